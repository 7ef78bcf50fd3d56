package nimbus.lambda;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Exceptions in Lambda's Java error shape: {@code errorMessage}, {@code errorType},
 * {@code stackTrace} (frames as {@code Class.method(File.java:line)}, the runtime's own
 * and reflection's frames left out) and {@code cause}, recursively.
 */
final class Errors {
    private Errors() {}

    static String type(Throwable t) {
        return t instanceof Handler.Failure ? ((Handler.Failure) t).errorType : t.getClass().getName();
    }

    private static boolean runtimeFrame(StackTraceElement e) {
        String c = e.getClassName();
        return c.startsWith("nimbus.lambda.") || c.startsWith("jdk.internal.reflect.") || c.startsWith("sun.reflect.")
                || c.equals("java.lang.reflect.Method");
    }

    static List<String> frames(Throwable t) {
        List<String> out = new ArrayList<>();
        for (StackTraceElement e : t.getStackTrace()) {
            if (runtimeFrame(e)) {
                continue;
            }
            String where = e.getFileName() == null ? "Unknown Source"
                    : e.getLineNumber() >= 0 ? e.getFileName() + ":" + e.getLineNumber() : e.getFileName();
            out.add(e.getClassName() + "." + e.getMethodName() + "(" + (e.isNativeMethod() ? "Native Method" : where) + ")");
        }
        return out;
    }

    static String json(Throwable t) {
        StringBuilder b = new StringBuilder(512);
        json(b, t, new IdentityHashMap<>());
        return b.toString();
    }

    private static void json(StringBuilder b, Throwable t, Map<Throwable, Boolean> seen) {
        seen.put(t, true);
        b.append('{');
        if (t.getMessage() != null) {
            b.append("\"errorMessage\":");
            Json.quote(b, t.getMessage());
            b.append(',');
        }
        b.append("\"errorType\":");
        Json.quote(b, type(t));
        b.append(",\"stackTrace\":[");
        List<String> frames = frames(t);
        for (int i = 0; i < frames.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            Json.quote(b, frames.get(i));
        }
        b.append(']');
        Throwable cause = t.getCause();
        if (cause != null && !seen.containsKey(cause)) {
            b.append(",\"cause\":");
            json(b, cause, seen);
        }
        b.append('}');
    }

    /** The stack trace as the log shows it. */
    static String text(Throwable t) {
        StringBuilder b = new StringBuilder(512);
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        String prefix = "";
        while (t != null && !seen.containsKey(t)) {
            seen.put(t, true);
            b.append(prefix).append(type(t));
            if (t.getMessage() != null) {
                b.append(": ").append(t.getMessage());
            }
            b.append('\n');
            for (String f : frames(t)) {
                b.append("\tat ").append(f).append('\n');
            }
            prefix = "Caused by: ";
            t = t.getCause();
        }
        return b.toString();
    }
}
