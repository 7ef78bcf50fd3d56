package nimbus.lambda;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The client side of the Lambda Runtime API (2018-06-01), HTTP/1.1 over one kept-alive
 * socket. A plain socket rather than java.net.http or HttpURLConnection: loading either
 * costs a cold start tens of milliseconds.
 */
final class RuntimeApi {
    private static final String PREFIX = "/2018-06-01/runtime";
    private final String host;
    private final int port;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    RuntimeApi(String address) {
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("AWS_LAMBDA_RUNTIME_API is not host:port: " + address);
        }
        host = address.substring(0, colon);
        port = Integer.parseInt(address.substring(colon + 1));
    }

    /** A response: status, headers (lower-cased names) and body. */
    static final class Response {
        final int status;
        final Map<String, String> headers;
        final byte[] body;

        Response(int status, Map<String, String> headers, byte[] body) {
            this.status = status;
            this.headers = headers;
            this.body = body;
        }

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    Response next() throws IOException {
        return exchange("GET", PREFIX + "/invocation/next", null, null);
    }

    /** SnapStart: blocks until the environment is handed to its first invocation. */
    void restoreNext() throws IOException {
        expectAccepted(exchange("GET", PREFIX + "/restore/next", null, null));
    }

    /** Posts the result; the platform's refusal (e.g. 413, too large) is its answer, not a fault. */
    Response respond(String requestId, byte[] payload) throws IOException {
        return exchange("POST", PREFIX + "/invocation/" + requestId + "/response", payload, null);
    }

    Response error(String requestId, String errorType, byte[] payload) throws IOException {
        return exchange("POST", PREFIX + "/invocation/" + requestId + "/error", payload, errorType);
    }

    void initError(String errorType, byte[] payload) throws IOException {
        expectAccepted(exchange("POST", PREFIX + "/init/error", payload, errorType));
    }

    void restoreError(String errorType, byte[] payload) throws IOException {
        expectAccepted(exchange("POST", PREFIX + "/restore/error", payload, errorType));
    }

    private static void expectAccepted(Response r) throws IOException {
        if (r.status / 100 != 2) {
            throw new IOException("Runtime API answered " + r.status + ": " + new String(r.body, StandardCharsets.UTF_8));
        }
    }

    private Response exchange(String method, String path, byte[] body, String errorType) throws IOException {
        for (int attempt = 0; ; attempt++) {
            boolean fresh = socket == null;
            try {
                if (fresh) {
                    connect();
                }
                send(method, path, body, errorType);
                return read();
            } catch (IOException e) {
                close();
                // A kept-alive connection the server closed: retry once on a new one,
                // for GETs only (a POST may have been received).
                if (fresh || attempt > 0 || !"GET".equals(method)) {
                    throw e;
                }
            }
        }
    }

    private void connect() throws IOException {
        socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(host, port));
        in = new BufferedInputStream(socket.getInputStream(), 65536);
        out = socket.getOutputStream();
    }

    private void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
        }
        socket = null;
    }

    private void send(String method, String path, byte[] body, String errorType) throws IOException {
        StringBuilder head = new StringBuilder(256);
        head.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ").append(host).append(':').append(port)
                .append("\r\nUser-Agent: nimbus-java/").append(System.getProperty("java.version")).append("\r\n");
        if (body != null) {
            head.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        if (errorType != null) {
            head.append("Lambda-Runtime-Function-Error-Type: ").append(errorType.replaceAll("[\r\n]", " ")).append("\r\n");
        }
        head.append("\r\n");
        byte[] h = head.toString().getBytes(StandardCharsets.UTF_8);
        if (body != null && body.length < 65536) {
            byte[] all = new byte[h.length + body.length];
            System.arraycopy(h, 0, all, 0, h.length);
            System.arraycopy(body, 0, all, h.length, body.length);
            out.write(all);
        } else {
            out.write(h);
            if (body != null) {
                out.write(body);
            }
        }
        out.flush();
    }

    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(128);
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new IOException("connection closed by the Runtime API");
            }
            if (c == '\n') {
                break;
            }
            b.write(c);
        }
        String s = new String(b.toByteArray(), StandardCharsets.UTF_8);
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    private byte[] exactly(long n) throws IOException {
        if (n > Integer.MAX_VALUE - 16) {
            throw new IOException("response too large");
        }
        byte[] b = new byte[(int) n];
        int off = 0;
        while (off < b.length) {
            int r = in.read(b, off, b.length - off);
            if (r < 0) {
                throw new IOException("connection closed by the Runtime API");
            }
            off += r;
        }
        return b;
    }

    private Response read() throws IOException {
        String status = line();
        String[] parts = status.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
            throw new IOException("malformed status line from the Runtime API: " + status);
        }
        int code = Integer.parseInt(parts[1]);
        Map<String, String> headers = new TreeMap<>();
        for (String l = line(); !l.isEmpty(); l = line()) {
            int colon = l.indexOf(':');
            if (colon > 0) {
                headers.put(l.substring(0, colon).trim().toLowerCase(Locale.ROOT), l.substring(colon + 1).trim());
            }
        }
        byte[] body;
        String length = headers.get("content-length");
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            while (true) {
                String size = line();
                int semi = size.indexOf(';');
                long n = Long.parseLong((semi >= 0 ? size.substring(0, semi) : size).trim(), 16);
                if (n == 0) {
                    while (!line().isEmpty()) {
                        // trailers
                    }
                    break;
                }
                b.write(exactly(n));
                line();
            }
            body = b.toByteArray();
        } else if (length != null) {
            body = exactly(Long.parseLong(length));
        } else {
            body = new byte[0];
        }
        if ("close".equalsIgnoreCase(headers.get("connection"))) {
            close();
        }
        return new Response(code, headers, body);
    }
}
