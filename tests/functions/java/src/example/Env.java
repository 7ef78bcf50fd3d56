package example;

import com.amazonaws.services.lambda.runtime.Context;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;

/** What the execution environment looks like from inside the JVM. */
public class Env {
    public Map<String, Object> handleRequest(Object input, Context context) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("env", System.getenv());
        out.put("cwd", new File(".").getAbsoluteFile().getParent());
        out.put("javaVersion", System.getProperty("java.specification.version"));
        out.put("toolProperty", System.getProperty("nimbus.test"));
        out.put("maxHeapMb", Runtime.getRuntime().maxMemory() / (1024 * 1024));
        out.put("traceHeader", System.getProperty("com.amazonaws.xray.traceHeader"));
        return out;
    }
}
