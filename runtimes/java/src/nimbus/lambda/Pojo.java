package nimbus.lambda;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Events to handler arguments and results to JSON, with the conventions of Lambda's Java
 * serializer (Jackson configured for events): properties from public getters and setters
 * or public fields, standard bean names ({@code getURL} is {@code URL}), unknown
 * properties ignored, unknown enum names read as null, a single value accepted where an
 * array is wanted and "" as a null object, null properties left out when writing, byte
 * arrays and ByteBuffers as base64, dates as epoch milliseconds, enums by name. Names
 * match case-insensitively when reading, which is how the aws-lambda-java-events classes
 * bind ({@code Records} sets {@code records}) without the Jackson mix-ins Lambda uses.
 */
final class Pojo {
    private Pojo() {}

    static final class BindException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BindException(String message) {
            super(message);
        }
    }

    // ---- writing ------------------------------------------------------------------------

    static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, 0);
        return b.toString();
    }

    private static void write(StringBuilder out, Object v, int depth) {
        if (depth > 500) {
            throw new BindException("Direct self-reference or nesting deeper than 500 in the response");
        }
        if (v == null) {
            out.append("null");
        } else if (v instanceof String || v instanceof Character) {
            Json.quote(out, v.toString());
        } else if (v instanceof Boolean) {
            out.append(v);
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                Json.quote(out, v.toString());
            } else {
                out.append(v);
            }
        } else if (v instanceof Number) {
            out.append(v instanceof BigDecimal ? ((BigDecimal) v).toString() : v.toString());
        } else if (v instanceof Enum) {
            Json.quote(out, ((Enum<?>) v).name());
        } else if (v instanceof byte[]) {
            Json.quote(out, Base64.getEncoder().encodeToString((byte[]) v));
        } else if (v instanceof ByteBuffer) {
            ByteBuffer buf = ((ByteBuffer) v).duplicate();
            byte[] bytes = new byte[buf.remaining()];
            buf.get(bytes);
            Json.quote(out, Base64.getEncoder().encodeToString(bytes));
        } else if (v instanceof Date) {
            out.append(((Date) v).getTime());
        } else if (v instanceof Optional) {
            write(out, ((Optional<?>) v).orElse(null), depth + 1);
        } else if (v instanceof Map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                Json.quote(out, String.valueOf(e.getKey()));
                out.append(':');
                write(out, e.getValue(), depth + 1);
            }
            out.append('}');
        } else if (v instanceof Collection) {
            out.append('[');
            boolean first = true;
            for (Object item : (Collection<?>) v) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                write(out, item, depth + 1);
            }
            out.append(']');
        } else if (v.getClass().isArray()) {
            out.append('[');
            int n = Array.getLength(v);
            for (int k = 0; k < n; k++) {
                if (k > 0) {
                    out.append(',');
                }
                write(out, Array.get(v, k), depth + 1);
            }
            out.append(']');
        } else if (isJavaTime(v.getClass())) {
            Json.quote(out, v.toString());
        } else {
            out.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : properties(v).entrySet()) {
                if (e.getValue() == null) {
                    continue;
                }
                if (!first) {
                    out.append(',');
                }
                first = false;
                Json.quote(out, e.getKey());
                out.append(':');
                write(out, e.getValue(), depth + 1);
            }
            out.append('}');
        }
    }

    private static boolean isJavaTime(Class<?> c) {
        return c.getName().startsWith("java.time.") || c.getName().equals("java.util.UUID");
    }

    /**
     * The standard bean name of a getter's or setter's suffix (Lambda's serializer turns
     * on Jackson's USE_STD_BEAN_NAMING): "FooBar" is "fooBar", "URL" stays "URL".
     */
    static String propertyName(String suffix) {
        if (suffix.isEmpty()) {
            return suffix;
        }
        if (suffix.length() > 1 && Character.isUpperCase(suffix.charAt(0)) && Character.isUpperCase(suffix.charAt(1))) {
            return suffix;
        }
        return Character.toLowerCase(suffix.charAt(0)) + suffix.substring(1);
    }

    /** A POJO's readable properties in declaration-ish order: record components, getters, public fields. */
    private static Map<String, Object> properties(Object v) {
        Map<String, Object> props = new LinkedHashMap<>();
        Class<?> c = v.getClass();
        Object[] components = recordComponents(c);
        if (components != null) {
            for (Object rc : components) {
                try {
                    String name = (String) rc.getClass().getMethod("getName").invoke(rc);
                    Method accessor = (Method) rc.getClass().getMethod("getAccessor").invoke(rc);
                    accessor.setAccessible(true);
                    props.put(name, accessor.invoke(v));
                } catch (ReflectiveOperationException e) {
                    throw new BindException("Cannot read record component of " + c.getName() + ": " + e);
                }
            }
            return props;
        }
        for (Method m : c.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.getParameterCount() != 0 || m.getDeclaringClass() == Object.class) {
                continue;
            }
            String n = m.getName();
            String name = null;
            if (n.startsWith("get") && n.length() > 3 && m.getReturnType() != void.class) {
                name = propertyName(n.substring(3));
            } else if (n.startsWith("is") && n.length() > 2 && (m.getReturnType() == boolean.class || m.getReturnType() == Boolean.class)) {
                name = propertyName(n.substring(2));
            }
            if (name == null || props.containsKey(name)) {
                continue;
            }
            try {
                m.setAccessible(true);
                props.put(name, m.invoke(v));
            } catch (ReflectiveOperationException | RuntimeException e) {
                throw new BindException("Cannot read property '" + name + "' of " + c.getName() + ": " + e);
            }
        }
        for (Field f : c.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) || props.containsKey(f.getName())) {
                continue;
            }
            try {
                props.put(f.getName(), f.get(v));
            } catch (IllegalAccessException e) {
                throw new BindException("Cannot read field '" + f.getName() + "' of " + c.getName());
            }
        }
        return props;
    }

    /** A record's components (Java 16+), through reflection so the runtime builds for Java 11. */
    private static Object[] recordComponents(Class<?> c) {
        try {
            return (Object[]) Class.class.getMethod("getRecordComponents").invoke(c);
        } catch (ReflectiveOperationException e) {
            return null;
        }
    }

    // ---- reading ------------------------------------------------------------------------

    private static Class<?> rawClass(Type t) {
        if (t instanceof Class) {
            return (Class<?>) t;
        }
        if (t instanceof ParameterizedType) {
            return (Class<?>) ((ParameterizedType) t).getRawType();
        }
        if (t instanceof GenericArrayType) {
            return Array.newInstance(rawClass(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
        }
        if (t instanceof WildcardType) {
            Type[] upper = ((WildcardType) t).getUpperBounds();
            return upper.length > 0 ? rawClass(upper[0]) : Object.class;
        }
        return Object.class;
    }

    private static Type typeArgument(Type t, int k) {
        if (t instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) t).getActualTypeArguments();
            if (k < args.length) {
                return args[k];
            }
        }
        return Object.class;
    }

    private static String describe(Object json) {
        if (json instanceof Map) {
            return "an object";
        }
        if (json instanceof List) {
            return "an array";
        }
        if (json instanceof String) {
            return "a string";
        }
        if (json instanceof Boolean) {
            return "a boolean";
        }
        return json == null ? "null" : "a number";
    }

    private static BindException mismatch(Type t, Object json) {
        return new BindException("Cannot deserialize value of type `" + t.getTypeName() + "` from " + describe(json));
    }

    /** Converts a parsed JSON value to {@code type}. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static Object read(Object json, Type type) {
        Class<?> c = rawClass(type);
        if (json == null) {
            if (c.isPrimitive()) {
                return c == boolean.class ? (Object) false : c == char.class ? (Object) '\0' : number(0, c);
            }
            return c == Optional.class ? Optional.empty() : null;
        }
        if (c == Object.class) {
            return json;
        }
        if (c == String.class || c == CharSequence.class) {
            if (json instanceof Map || json instanceof List) {
                throw mismatch(type, json);
            }
            return json.toString();
        }
        if (c == boolean.class || c == Boolean.class) {
            if (json instanceof Boolean) {
                return json;
            }
            if (json instanceof String && ("true".equals(json) || "false".equals(json))) {
                return Boolean.valueOf((String) json);
            }
            throw mismatch(type, json);
        }
        if (c == char.class || c == Character.class) {
            if (json instanceof String && ((String) json).length() == 1) {
                return ((String) json).charAt(0);
            }
            throw mismatch(type, json);
        }
        if (c.isPrimitive() || Number.class.isAssignableFrom(c)) {
            if (json instanceof Number) {
                return number((Number) json, c);
            }
            if (json instanceof String) {
                try {
                    return number(new BigDecimal(((String) json).trim()), c);
                } catch (NumberFormatException e) {
                    throw new BindException("Cannot deserialize value of type `" + c.getName() + "` from String \"" + json + "\": not a valid number");
                }
            }
            throw mismatch(type, json);
        }
        if (c.isEnum()) {
            if (json instanceof String) {
                for (Object constant : c.getEnumConstants()) {
                    if (((Enum<?>) constant).name().equals(json)) {
                        return constant;
                    }
                }
                return null; // READ_UNKNOWN_ENUM_VALUES_AS_NULL
            }
            throw mismatch(type, json);
        }
        if (c == byte[].class || c == ByteBuffer.class) {
            if (!(json instanceof String)) {
                throw mismatch(type, json);
            }
            byte[] bytes;
            try {
                bytes = Base64.getMimeDecoder().decode((String) json);
            } catch (IllegalArgumentException e) {
                throw new BindException("Cannot deserialize value of type `" + c.getName() + "`: " + e.getMessage());
            }
            return c == ByteBuffer.class ? ByteBuffer.wrap(bytes) : bytes;
        }
        if (c == Date.class) {
            if (json instanceof Number) {
                return new Date(((Number) json).longValue());
            }
            if (json instanceof String) {
                try {
                    return Date.from(java.time.Instant.parse((String) json));
                } catch (RuntimeException e) {
                    throw new BindException("Cannot deserialize value of type `java.util.Date` from String \"" + json + "\"");
                }
            }
            throw mismatch(type, json);
        }
        if (c == Optional.class) {
            return Optional.ofNullable(read(json, typeArgument(type, 0)));
        }
        if (Map.class.isAssignableFrom(c)) {
            if (!(json instanceof Map)) {
                throw mismatch(type, json);
            }
            Map out = c.isInterface() || Modifier.isAbstract(c.getModifiers())
                    ? (c == java.util.SortedMap.class || c == java.util.NavigableMap.class ? new TreeMap() : new LinkedHashMap())
                    : (Map) instantiate(c);
            Type valueType = typeArgument(type, 1);
            Type keyType = typeArgument(type, 0);
            for (Map.Entry<String, Object> e : ((Map<String, Object>) json).entrySet()) {
                out.put(read(e.getKey(), keyType), read(e.getValue(), valueType));
            }
            return out;
        }
        if ((Collection.class.isAssignableFrom(c) || (c.isArray() && c != byte[].class)) && !(json instanceof List)) {
            // ACCEPT_SINGLE_VALUE_AS_ARRAY
            List<Object> one = new ArrayList<>();
            one.add(json);
            json = one;
        }
        if (Collection.class.isAssignableFrom(c)) {
            if (!(json instanceof List)) {
                throw mismatch(type, json);
            }
            Collection out = c.isInterface() || Modifier.isAbstract(c.getModifiers())
                    ? (Set.class.isAssignableFrom(c) ? new LinkedHashSet() : new ArrayList())
                    : (Collection) instantiate(c);
            Type itemType = typeArgument(type, 0);
            for (Object item : (List<Object>) json) {
                out.add(read(item, itemType));
            }
            return out;
        }
        if (c.isArray()) {
            if (!(json instanceof List)) {
                throw mismatch(type, json);
            }
            List<Object> items = (List<Object>) json;
            Type itemType = type instanceof GenericArrayType ? ((GenericArrayType) type).getGenericComponentType() : c.getComponentType();
            Object out = Array.newInstance(c.getComponentType(), items.size());
            for (int k = 0; k < items.size(); k++) {
                Array.set(out, k, read(items.get(k), itemType));
            }
            return out;
        }
        if (isJavaTime(c) && json instanceof String) {
            try {
                Method parse = c == java.util.UUID.class
                        ? c.getMethod("fromString", String.class)
                        : c.getMethod("parse", CharSequence.class);
                return parse.invoke(null, json);
            } catch (ReflectiveOperationException e) {
                throw new BindException("Cannot deserialize value of type `" + c.getName() + "` from String \"" + json + "\"");
            }
        }
        if ("".equals(json)) {
            return null; // ACCEPT_EMPTY_STRING_AS_NULL_OBJECT
        }
        if (!(json instanceof Map)) {
            // A value type with a constructor from a string or a number (e.g. org.joda.time.DateTime).
            Object made = fromScalar(c, json);
            if (made != null) {
                return made;
            }
            throw mismatch(type, json);
        }
        return readObject((Map<String, Object>) json, c);
    }

    private static Object fromScalar(Class<?> c, Object json) {
        for (Class<?> param : new Class<?>[] {json.getClass(), String.class, Object.class}) {
            try {
                Constructor<?> k = c.getConstructor(param);
                return k.newInstance(param == String.class ? json.toString() : json);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // try the next shape
            }
        }
        return null;
    }

    private static Object number(Number n, Class<?> c) {
        if (c == int.class || c == Integer.class) {
            return n.intValue();
        }
        if (c == long.class || c == Long.class) {
            return n.longValue();
        }
        if (c == double.class || c == Double.class) {
            return n.doubleValue();
        }
        if (c == float.class || c == Float.class) {
            return n.floatValue();
        }
        if (c == short.class || c == Short.class) {
            return n.shortValue();
        }
        if (c == byte.class || c == Byte.class) {
            return n.byteValue();
        }
        if (c == BigInteger.class) {
            return n instanceof BigInteger ? n : new BigDecimal(n.toString()).toBigInteger();
        }
        if (c == BigDecimal.class) {
            return n instanceof BigDecimal ? n : new BigDecimal(n.toString());
        }
        return n;
    }

    private static Object instantiate(Class<?> c) {
        try {
            Constructor<?> k = c.getDeclaredConstructor();
            k.setAccessible(true);
            return k.newInstance();
        } catch (NoSuchMethodException e) {
            throw new BindException("Cannot construct instance of `" + c.getName() + "` (no Creators, like default constructor, exist)");
        } catch (ReflectiveOperationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new BindException("Cannot construct instance of `" + c.getName() + "`: " + cause);
        }
    }

    /** How a class's properties are set, by lower-cased name; cached per class. */
    private static final Map<Class<?>, Map<String, Object>> WRITERS = new ConcurrentHashMap<>();

    private static Map<String, Object> writers(Class<?> c) {
        return WRITERS.computeIfAbsent(c, k -> {
            Map<String, Object> w = new HashMap<>();
            for (Class<?> at = k; at != null && at != Object.class; at = at.getSuperclass()) {
                for (Field f : at.getDeclaredFields()) {
                    int mod = f.getModifiers();
                    if (Modifier.isStatic(mod) || Modifier.isTransient(mod) || Modifier.isFinal(mod)) {
                        continue;
                    }
                    w.putIfAbsent(f.getName().toLowerCase(Locale.ROOT), f);
                }
            }
            // Setters win over fields, as with Jackson.
            for (Method m : k.getMethods()) {
                if (!Modifier.isStatic(m.getModifiers()) && m.getName().startsWith("set") && m.getName().length() > 3 && m.getParameterCount() == 1) {
                    String name = propertyName(m.getName().substring(3)).toLowerCase(Locale.ROOT);
                    Object prev = w.get(name);
                    if (!(prev instanceof Method)) {
                        w.put(name, m);
                    }
                }
            }
            return w;
        });
    }

    private static Object readObject(Map<String, Object> json, Class<?> c) {
        if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
            throw new BindException("Cannot construct instance of `" + c.getName() + "` (abstract types either need to be mapped to concrete types, have custom deserializer, or contain additional type information)");
        }
        Object[] components = recordComponents(c);
        if (components != null) {
            return readRecord(json, c, components);
        }
        Object target = instantiate(c);
        Map<String, Object> w = writers(c);
        for (Map.Entry<String, Object> e : json.entrySet()) {
            Object how = w.get(e.getKey().toLowerCase(Locale.ROOT));
            if (how == null) {
                continue; // unknown properties are ignored
            }
            try {
                if (how instanceof Method) {
                    Method m = (Method) how;
                    m.setAccessible(true);
                    m.invoke(target, read(e.getValue(), m.getGenericParameterTypes()[0]));
                } else {
                    Field f = (Field) how;
                    f.setAccessible(true);
                    f.set(target, read(e.getValue(), f.getGenericType()));
                }
            } catch (BindException x) {
                throw new BindException(x.getMessage() + " (through reference chain: " + c.getName() + "[\"" + e.getKey() + "\"])");
            } catch (ReflectiveOperationException | RuntimeException x) {
                Throwable cause = x.getCause() != null ? x.getCause() : x;
                throw new BindException("Cannot set property \"" + e.getKey() + "\" of " + c.getName() + ": " + cause);
            }
        }
        return target;
    }

    private static Object readRecord(Map<String, Object> json, Class<?> c, Object[] components) {
        Map<String, Object> lower = new HashMap<>();
        for (Map.Entry<String, Object> e : json.entrySet()) {
            lower.putIfAbsent(e.getKey().toLowerCase(Locale.ROOT), e.getValue());
        }
        try {
            Class<?>[] types = new Class<?>[components.length];
            Object[] args = new Object[components.length];
            for (int k = 0; k < components.length; k++) {
                Object rc = components[k];
                String name = (String) rc.getClass().getMethod("getName").invoke(rc);
                types[k] = (Class<?>) rc.getClass().getMethod("getType").invoke(rc);
                Type generic = (Type) rc.getClass().getMethod("getGenericType").invoke(rc);
                args[k] = read(lower.get(name.toLowerCase(Locale.ROOT)), generic);
            }
            Constructor<?> k = c.getDeclaredConstructor(types);
            k.setAccessible(true);
            return k.newInstance(args);
        } catch (BindException e) {
            throw e;
        } catch (ReflectiveOperationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new BindException("Cannot construct instance of `" + c.getName() + "`: " + cause);
        }
    }
}
