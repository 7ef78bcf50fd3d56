package nimbus.lambda;

import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.logging.LogLevel;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * The function's LambdaLogger: one log record per call. Text format writes the message as
 * given (a record per call, so a trailing newline is added when missing); JSON format
 * writes Lambda's record with timestamp, level, message and AWSRequestId, dropping
 * records below the function's application log level.
 */
final class Logger implements LambdaLogger {
    private final PrintStream out;
    private final boolean json;
    private final LogLevel minimum;
    private volatile String requestId;

    Logger(PrintStream out) {
        this.out = out;
        this.json = "JSON".equalsIgnoreCase(System.getenv("AWS_LAMBDA_LOG_FORMAT"));
        LogLevel min = LogLevel.UNDEFINED;
        String level = System.getenv("AWS_LAMBDA_LOG_LEVEL");
        if (json && level != null) {
            try {
                min = LogLevel.fromString(level);
            } catch (IllegalArgumentException ignored) {
                min = LogLevel.UNDEFINED;
            }
        }
        this.minimum = min;
    }

    void setRequestId(String id) {
        requestId = id;
    }

    public void log(String message) {
        log(message, LogLevel.UNDEFINED);
    }

    public void log(byte[] message) {
        log(new String(message, StandardCharsets.UTF_8), LogLevel.UNDEFINED);
    }

    public void log(byte[] message, LogLevel level) {
        log(new String(message, StandardCharsets.UTF_8), level);
    }

    public void log(String message, LogLevel level) {
        String text = message == null ? "null" : message;
        if (level == null) {
            level = LogLevel.UNDEFINED;
        }
        if (level != LogLevel.UNDEFINED && minimum != LogLevel.UNDEFINED && level.ordinal() < minimum.ordinal()) {
            return;
        }
        String record;
        if (json) {
            StringBuilder b = new StringBuilder(text.length() + 96);
            b.append("{\"timestamp\":");
            Json.quote(b, Instant.now().toString());
            if (level != LogLevel.UNDEFINED) {
                b.append(",\"level\":");
                Json.quote(b, level.name());
            }
            b.append(",\"message\":");
            Json.quote(b, text.endsWith("\n") ? text.substring(0, text.length() - 1) : text);
            if (requestId != null) {
                b.append(",\"AWSRequestId\":");
                Json.quote(b, requestId);
            }
            record = b.append("}\n").toString();
        } else {
            record = text.endsWith("\n") ? text : text + "\n";
        }
        synchronized (out) {
            out.print(record);
            out.flush();
        }
    }
}
