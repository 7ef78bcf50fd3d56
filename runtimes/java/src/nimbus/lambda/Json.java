package nimbus.lambda;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON text to plain values and back: objects are LinkedHashMaps, arrays ArrayLists,
 * numbers Integer, Long, BigInteger or Double (BigDecimal past a double's range), as
 * Jackson reads untyped JSON. Standard library only: the runtime starts no framework.
 */
final class Json {
    private final String s;
    private int i;

    private Json(String s) {
        this.s = s;
    }

    static final class ParseException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ParseException(String message) {
            super(message);
        }
    }

    /** Parses one JSON document; blank text is null. */
    static Object parse(String text) {
        Json p = new Json(text);
        p.skipSpace();
        if (p.i == text.length()) {
            return null;
        }
        Object v = p.value(0);
        p.skipSpace();
        if (p.i != text.length()) {
            throw p.error("unexpected character after the document");
        }
        return v;
    }

    private ParseException error(String what) {
        return new ParseException(what + " at offset " + i);
    }

    private void skipSpace() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                return;
            }
            i++;
        }
    }

    private Object value(int depth) {
        if (depth > 1000) {
            throw error("nesting too deep");
        }
        skipSpace();
        if (i >= s.length()) {
            throw error("unexpected end of input");
        }
        char c = s.charAt(i);
        switch (c) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
                return string();
            case 't':
                return literal("true", Boolean.TRUE);
            case 'f':
                return literal("false", Boolean.FALSE);
            case 'n':
                return literal("null", null);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) {
                    return number();
                }
                throw error("unexpected character '" + c + "'");
        }
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, i)) {
            throw error("unrecognized token");
        }
        i += word.length();
        return v;
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        skipSpace();
        if (i < s.length() && s.charAt(i) == '}') {
            i++;
            return m;
        }
        while (true) {
            skipSpace();
            if (i >= s.length() || s.charAt(i) != '"') {
                throw error("expected a field name");
            }
            String key = string();
            skipSpace();
            if (i >= s.length() || s.charAt(i) != ':') {
                throw error("expected ':'");
            }
            i++;
            m.put(key, value(depth + 1));
            skipSpace();
            if (i >= s.length()) {
                throw error("unexpected end of input");
            }
            char c = s.charAt(i++);
            if (c == '}') {
                return m;
            }
            if (c != ',') {
                throw error("expected ',' or '}'");
            }
        }
    }

    private List<Object> array(int depth) {
        List<Object> l = new ArrayList<>();
        i++;
        skipSpace();
        if (i < s.length() && s.charAt(i) == ']') {
            i++;
            return l;
        }
        while (true) {
            l.add(value(depth + 1));
            skipSpace();
            if (i >= s.length()) {
                throw error("unexpected end of input");
            }
            char c = s.charAt(i++);
            if (c == ']') {
                return l;
            }
            if (c != ',') {
                throw error("expected ',' or ']'");
            }
        }
    }

    private String string() {
        i++;
        StringBuilder b = new StringBuilder();
        while (true) {
            if (i >= s.length()) {
                throw error("unterminated string");
            }
            char c = s.charAt(i++);
            if (c == '"') {
                return b.toString();
            }
            if (c != '\\') {
                // Raw control characters are accepted, as Lambda's parser does.
                b.append(c);
                continue;
            }
            if (i >= s.length()) {
                throw error("unterminated string");
            }
            char e = s.charAt(i++);
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    b.append(e);
                    break;
                case 'b':
                    b.append('\b');
                    break;
                case 'f':
                    b.append('\f');
                    break;
                case 'n':
                    b.append('\n');
                    break;
                case 'r':
                    b.append('\r');
                    break;
                case 't':
                    b.append('\t');
                    break;
                case 'u':
                    if (i + 4 > s.length()) {
                        throw error("bad unicode escape");
                    }
                    try {
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                    } catch (NumberFormatException x) {
                        throw error("bad unicode escape");
                    }
                    i += 4;
                    break;
                default:
                    b.append(e); // any character may be escaped, as Lambda's parser allows
            }
        }
    }

    private int digits() {
        int start = i;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
            i++;
        }
        return i - start;
    }

    /** A number by JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    private Object number() {
        int start = i;
        if (s.charAt(i) == '-') {
            i++;
        }
        int intStart = i;
        if (digits() == 0) {
            throw error("malformed number");
        }
        if (s.charAt(intStart) == '0' && i - intStart > 1) {
            throw error("leading zeroes are not allowed in a number");
        }
        boolean fraction = false;
        if (i < s.length() && s.charAt(i) == '.') {
            i++;
            fraction = true;
            if (digits() == 0) {
                throw error("a decimal point must be followed by a digit");
            }
        }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            i++;
            fraction = true;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) {
                i++;
            }
            if (digits() == 0) {
                throw error("an exponent must have digits");
            }
        }
        String t = s.substring(start, i);
        if (fraction) {
            double d = Double.parseDouble(t);
            if (!Double.isInfinite(d)) {
                return d;
            }
            try {
                return new BigDecimal(t);
            } catch (NumberFormatException e) {
                throw error("number out of range");
            }
        }
        BigInteger n = new BigInteger(t);
        if (n.bitLength() < 32) {
            return n.intValue();
        }
        return n.bitLength() < 64 ? (Object) n.longValue() : n;
    }

    /** Appends {@code text} as a JSON string. */
    static void quote(StringBuilder out, String text) {
        out.append('"');
        for (int k = 0; k < text.length(); k++) {
            char c = text.charAt(k);
            switch (c) {
                case '"':
                    out.append("\\\"");
                    break;
                case '\\':
                    out.append("\\\\");
                    break;
                case '\n':
                    out.append("\\n");
                    break;
                case '\r':
                    out.append("\\r");
                    break;
                case '\t':
                    out.append("\\t");
                    break;
                case '\b':
                    out.append("\\b");
                    break;
                case '\f':
                    out.append("\\f");
                    break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    static String quote(String text) {
        StringBuilder b = new StringBuilder(text.length() + 2);
        quote(b, text);
        return b.toString();
    }
}
