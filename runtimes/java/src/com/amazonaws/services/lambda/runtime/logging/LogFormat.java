package com.amazonaws.services.lambda.runtime.logging;

/** The function's log format (its LoggingConfig). */
public enum LogFormat {
    JSON,
    TEXT;

    public static LogFormat fromString(String name) {
        try {
            return LogFormat.valueOf(name.toUpperCase());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("Invalid log format: '" + name + "' expected one of [JSON, TEXT]");
        }
    }
}
