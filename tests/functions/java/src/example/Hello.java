package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/** A RequestHandler over maps: the context's fields and how often init ran. */
public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    static int inits;
    private int invocations;

    public Hello() {
        inits++;
    }

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> input, Context context) {
        invocations++;
        context.getLogger().log("hello from the logger");
        System.out.println("hello from stdout");
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("hello", input.get("name"));
        out.put("nested", input.get("nested"));
        out.put("requestId", context.getAwsRequestId());
        out.put("functionName", context.getFunctionName());
        out.put("functionVersion", context.getFunctionVersion());
        out.put("arn", context.getInvokedFunctionArn());
        out.put("memory", context.getMemoryLimitInMB());
        out.put("remaining", context.getRemainingTimeInMillis());
        out.put("logGroup", context.getLogGroupName());
        out.put("logStream", context.getLogStreamName());
        out.put("identity", context.getIdentity() == null ? null : context.getIdentity().getIdentityId());
        out.put("client", context.getClientContext() == null ? null : context.getClientContext().getCustom());
        out.put("inits", inits);
        out.put("invocations", invocations);
        return out;
    }
}
