package com.amazonaws.services.lambda.runtime.logging;

/** Log levels, from least to most severe; UNDEFINED logs always. */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL;

    public static LogLevel fromString(String name) {
        try {
            return LogLevel.valueOf(name.toUpperCase());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("Invalid log level: '" + name + "' expected one of [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]");
        }
    }
}
