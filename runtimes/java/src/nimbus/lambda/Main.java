package nimbus.lambda;

import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Nimbus's Java runtime client. The host starts {@code java ... nimbus.lambda.Main} with the
 * usual Lambda environment; this loads the handler from {@code LAMBDA_TASK_ROOT} (classes,
 * {@code lib/*.jar}) and the layers' {@code /opt/java/lib/*.jar}, then serves invocations
 * from the Runtime API. The Lambda interfaces (aws-lambda-java-core) and org.crac are on
 * the runtime's own class path, so they resolve to these classes whether or not the
 * function's jar bundles copies.
 *
 * With {@code AWS_LAMBDA_INITIALIZATION_TYPE=snap-start} (a SnapStart version being
 * published) the runtime runs the org.crac beforeCheckpoint hooks after init, waits on
 * {@code /runtime/restore/next} until the environment is handed out, then runs the
 * afterRestore hooks.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        String address = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (address == null) {
            System.err.println("AWS_LAMBDA_RUNTIME_API is not set");
            System.exit(1);
        }
        RuntimeApi api = new RuntimeApi(address);
        Logger logger = new Logger(System.out);
        LambdaRuntime.setLogger(logger);
        ClassLoader loader = userClassLoader();
        Thread.currentThread().setContextClassLoader(loader);
        String initType = System.getenv("AWS_LAMBDA_INITIALIZATION_TYPE");
        boolean snapStart = "snap-start".equals(initType);
        Handler handler;
        try {
            handler = Handler.load(System.getenv("_HANDLER"), loader);
            if (snapStart || "provisioned-concurrency".equals(initType)) {
                prime(logger);
            }
            if (snapStart) {
                org.crac.Core.runBeforeCheckpoint();
            }
        } catch (Throwable t) {
            fail(t, (type, body) -> api.initError(type, body));
            return;
        }
        if (snapStart) {
            try {
                api.restoreNext();
                org.crac.Core.runAfterRestore();
            } catch (Throwable t) {
                fail(t, (type, body) -> api.restoreError(type, body));
                return;
            }
        }
        serve(api, handler, logger);
    }

    /**
     * An environment initialized ahead of its invocations runs the runtime's own invoke
     * path once (JSON both ways, the context, the error shape), so its first event does
     * not pay for loading those classes. No user code runs.
     */
    private static void prime(Logger logger) {
        Object doc = Json.parse("{\"k\":[1,2.5,true,null,\"s\",{\"n\":-1e3}],\"b\":\"\\u00e9\"}");
        Pojo.write(doc).getBytes(StandardCharsets.UTF_8);
        Pojo.read(doc, java.util.Map.class);
        Errors.json(new IllegalStateException("priming", new RuntimeException()));
        java.util.Map<String, String> headers = new java.util.TreeMap<>();
        headers.put("lambda-runtime-aws-request-id", "priming");
        headers.put("lambda-runtime-deadline-ms", "0");
        new Invocation(new RuntimeApi.Response(200, headers, new byte[0]), logger).getRemainingTimeInMillis();
    }

    private interface Report {
        void send(String errorType, byte[] body) throws Exception;
    }

    /** Reports an init or restore failure and ends the process, as Lambda's runtimes do. */
    private static void fail(Throwable t, Report report) {
        logError(t);
        try {
            report.send(Errors.type(t), Errors.json(t).getBytes(StandardCharsets.UTF_8));
        } catch (Throwable ignored) {
            // the platform sees the exit instead
        }
        flush();
        System.exit(1);
    }

    private static void serve(RuntimeApi api, Handler handler, Logger logger) {
        while (true) {
            RuntimeApi.Response next;
            try {
                next = api.next();
            } catch (Exception e) {
                System.err.println("Nimbus: lost the Runtime API: " + e);
                flush();
                System.exit(1);
                return;
            }
            Invocation context = new Invocation(next, logger);
            String requestId = context.getAwsRequestId();
            if (requestId == null) {
                System.err.println("Nimbus: invocation without Lambda-Runtime-Aws-Request-Id");
                System.exit(1);
            }
            logger.setRequestId(requestId);
            String trace = context.getXrayTraceId();
            if (trace != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", trace);
            } else {
                System.clearProperty("com.amazonaws.xray.traceHeader");
            }
            byte[] result = null;
            Throwable failure = null;
            try {
                result = handler.invoke(next.body, context);
            } catch (Throwable t) {
                failure = t;
            }
            try {
                RuntimeApi.Response answer;
                if (failure == null) {
                    flush();
                    answer = api.respond(requestId, result);
                } else {
                    logError(failure);
                    flush();
                    answer = api.error(requestId, Errors.type(failure), Errors.json(failure).getBytes(StandardCharsets.UTF_8));
                }
                if (answer.status / 100 != 2) {
                    // e.g. 413: the platform has answered the caller; serve the next event.
                    System.err.println("Nimbus: the Runtime API refused the result (" + answer.status + "): "
                            + new String(answer.body, StandardCharsets.UTF_8));
                    flush();
                }
            } catch (Exception e) {
                // The platform may refuse a result before reading all of it (413) and
                // close the connection under the write: the next /next reconnects, and
                // fails the process only if the Runtime API is really gone.
                System.err.println("Nimbus: could not report the invocation's result: " + e);
                flush();
            }
        }
    }

    private static void logError(Throwable t) {
        System.err.print(Errors.text(t));
    }

    private static void flush() {
        System.out.flush();
        System.err.flush();
    }

    /** The task root's classes and jars, then the layers' jars, as Lambda's class path. */
    private static ClassLoader userClassLoader() {
        List<URL> urls = new ArrayList<>();
        String root = System.getenv("LAMBDA_TASK_ROOT");
        if (root == null) {
            root = System.getProperty("user.dir");
        }
        try {
            urls.add(new File(root).toURI().toURL());
            addJars(urls, new File(root, "lib"));
            addJars(urls, new File("/opt/java/lib"));
            addJars(urls, new File("/opt/java"));
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
        return new URLClassLoader(urls.toArray(new URL[0]), Main.class.getClassLoader());
    }

    private static void addJars(List<URL> urls, File dir) throws MalformedURLException {
        File[] files = dir.listFiles((d, name) -> name.endsWith(".jar"));
        if (files == null) {
            return;
        }
        Arrays.sort(files);
        for (File f : files) {
            urls.add(f.toURI().toURL());
        }
    }
}
