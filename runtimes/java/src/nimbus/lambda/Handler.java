package nimbus.lambda;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The function's handler, from {@code package.Class::method} or {@code package.Class}
 * (a RequestHandler or RequestStreamHandler): loaded, its class initialized and (for an
 * instance method) constructed once at init, then called per invocation.
 */
final class Handler {
    /** A failure Lambda reports with its own error type and message (init or serialization). */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final String errorType;

        Failure(String errorType, String message, Throwable cause) {
            super(message, cause);
            this.errorType = errorType;
        }
    }

    private final Method method;
    private final Object target;
    private final boolean stream;
    private final boolean takesContext;
    private final Type inputType;

    private Handler(Method method, Object target, boolean stream, boolean takesContext, Type inputType) {
        this.method = method;
        this.target = target;
        this.stream = stream;
        this.takesContext = takesContext;
        this.inputType = inputType;
    }

    static Handler load(String spec, ClassLoader loader) throws Failure {
        if (spec == null || spec.isEmpty()) {
            throw new Failure("java.lang.IllegalArgumentException", "Handler not set: _HANDLER is empty", null);
        }
        String className = spec;
        String methodName = null;
        int sep = spec.indexOf("::");
        if (sep >= 0) {
            className = spec.substring(0, sep);
            methodName = spec.substring(sep + 2);
        }
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new Failure("java.lang.ClassNotFoundException", "Class not found: " + className, null);
        } catch (NoClassDefFoundError e) {
            // The handler class exists but something it needs does not.
            throw new Failure("java.lang.NoClassDefFoundError", "Error loading class " + className + ": " + e.getMessage(), e);
        } catch (ExceptionInInitializerError e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new Failure(cause.getClass().getName(), String.valueOf(cause.getMessage()), cause);
        }
        Method method = choose(cls, methodName);
        if (method == null) {
            String name = methodName == null ? "handleRequest" : methodName;
            throw new Failure("java.lang.Exception", "No public method named " + name + " with appropriate method signature found on class " + cls, null);
        }
        Object target = null;
        if (!Modifier.isStatic(method.getModifiers())) {
            try {
                target = cls.getConstructor().newInstance();
            } catch (NoSuchMethodException e) {
                throw new Failure("java.lang.Exception", "Class " + cls.getName() + " has no public zero-argument constructor", null);
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                throw new Failure(cause.getClass().getName(), String.valueOf(cause.getMessage()), cause);
            } catch (ReflectiveOperationException e) {
                throw new Failure("java.lang.Exception", "An error occurred while constructing " + cls.getName() + ": " + e, e);
            }
        }
        method.setAccessible(true);
        Class<?>[] p = method.getParameterTypes();
        boolean stream = p.length >= 2 && p[0] == InputStream.class && p[1] == OutputStream.class;
        boolean takesContext = p.length > 0 && p[p.length - 1] == Context.class && !(p.length == 2 && stream);
        Type input = (!stream && p.length > 0 && p[0] != Context.class) ? method.getGenericParameterTypes()[0] : null;
        return new Handler(method, target, stream, takesContext, input);
    }

    /** The handler method: the named one with the most parameters among Lambda's shapes. */
    private static Method choose(Class<?> cls, String name) {
        if (name == null) {
            if (RequestStreamHandler.class.isAssignableFrom(cls) || RequestHandler.class.isAssignableFrom(cls)) {
                name = "handleRequest";
            } else {
                return null;
            }
        }
        List<Method> candidates = new ArrayList<>();
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(name) && !m.isBridge() && !m.isSynthetic() && valid(m.getParameterTypes())) {
                candidates.add(m);
            }
        }
        if (candidates.isEmpty()) {
            // A bridge is all there is when the handler's input is a type variable.
            for (Method m : cls.getMethods()) {
                if (m.getName().equals(name) && valid(m.getParameterTypes())) {
                    candidates.add(m);
                }
            }
        }
        candidates.sort(Comparator.comparingInt((Method m) -> m.getParameterCount()).reversed()
                .thenComparing(m -> m.getParameterTypes().length > 0 && m.getParameterTypes()[m.getParameterCount() - 1] == Context.class ? 0 : 1));
        return candidates.isEmpty() ? null : candidates.get(0);
    }

    private static boolean valid(Class<?>[] p) {
        switch (p.length) {
            case 0:
                return true;
            case 1:
                return true;
            case 2:
                return (p[0] == InputStream.class && p[1] == OutputStream.class) || p[1] == Context.class;
            case 3:
                return p[0] == InputStream.class && p[1] == OutputStream.class && p[2] == Context.class;
            default:
                return false;
        }
    }

    /** Calls the handler with one event; the result as the response body. */
    byte[] invoke(byte[] event, Context context) throws Throwable {
        Object[] args;
        if (stream) {
            InputStream in = new ByteArrayInputStream(event);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            args = takesContext ? new Object[] {in, out, context} : new Object[] {in, out};
            call(args);
            return out.toByteArray();
        }
        Object input = null;
        if (inputType != null) {
            try {
                input = Pojo.read(Json.parse(new String(event, StandardCharsets.UTF_8)), inputType);
            } catch (Json.ParseException | Pojo.BindException e) {
                throw new Failure("java.lang.RuntimeException", "An error occurred during JSON parsing",
                        new Failure("java.io.UncheckedIOException", e.getMessage(), null));
            }
        }
        int n = method.getParameterCount();
        if (n == 0) {
            args = new Object[0];
        } else if (inputType == null) {
            args = new Object[] {context};
        } else {
            args = takesContext ? new Object[] {input, context} : new Object[] {input};
        }
        Object result = call(args);
        try {
            return Pojo.write(result).getBytes(StandardCharsets.UTF_8);
        } catch (Pojo.BindException e) {
            throw new Failure("java.lang.RuntimeException", "An error occurred during JSON serialization of response",
                    new Failure("java.io.UncheckedIOException", e.getMessage(), null));
        }
    }

    private Object call(Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
