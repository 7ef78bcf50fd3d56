package nimbus.lambda;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** One invocation's context object, read from the Runtime API's headers. */
final class Invocation implements Context {
    private final String requestId;
    private final long deadlineMs;
    private final String functionArn;
    private final String traceId;
    private final String tenantId;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;
    private final LambdaLogger logger;

    Invocation(RuntimeApi.Response r, LambdaLogger logger) {
        this.requestId = r.header("Lambda-Runtime-Aws-Request-Id");
        long deadline;
        try {
            deadline = Long.parseLong(r.header("Lambda-Runtime-Deadline-Ms"));
        } catch (RuntimeException e) {
            deadline = System.currentTimeMillis() + 3000;
        }
        this.deadlineMs = deadline;
        this.functionArn = r.header("Lambda-Runtime-Invoked-Function-Arn");
        this.traceId = r.header("Lambda-Runtime-Trace-Id");
        this.tenantId = r.header("Lambda-Runtime-Aws-Tenant-Id");
        this.identity = identity(r.header("Lambda-Runtime-Cognito-Identity"));
        this.clientContext = clientContext(r.header("Lambda-Runtime-Client-Context"));
        this.logger = logger;
    }

    private static Map<?, ?> object(String header) {
        if (header == null || header.isEmpty()) {
            return null;
        }
        try {
            Object v = Json.parse(header);
            return v instanceof Map ? (Map<?, ?>) v : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String text(Map<?, ?> m, String key) {
        Object v = m == null ? null : m.get(key);
        return v == null ? null : v.toString();
    }

    private static Map<String, String> strings(Object v) {
        if (!(v instanceof Map)) {
            return Collections.emptyMap();
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.put(String.valueOf(e.getKey()), e.getValue() == null ? null : e.getValue().toString());
        }
        return out;
    }

    private static CognitoIdentity identity(String header) {
        Map<?, ?> m = object(header);
        if (m == null) {
            return null;
        }
        String id = text(m, "cognitoIdentityId");
        String pool = text(m, "cognitoIdentityPoolId");
        return new CognitoIdentity() {
            public String getIdentityId() {
                return id;
            }

            public String getIdentityPoolId() {
                return pool;
            }
        };
    }

    private static ClientContext clientContext(String header) {
        Map<?, ?> m = object(header);
        if (m == null) {
            return null;
        }
        Map<?, ?> c = m.get("client") instanceof Map ? (Map<?, ?>) m.get("client") : null;
        Client client = c == null ? null : new Client() {
            public String getInstallationId() {
                return text(c, "installation_id");
            }

            public String getAppTitle() {
                return text(c, "app_title");
            }

            public String getAppVersionName() {
                return text(c, "app_version_name");
            }

            public String getAppVersionCode() {
                return text(c, "app_version_code");
            }

            public String getAppPackageName() {
                return text(c, "app_package_name");
            }
        };
        Map<String, String> custom = strings(m.get("custom"));
        Map<String, String> env = strings(m.get("env"));
        return new ClientContext() {
            public Client getClient() {
                return client;
            }

            public Map<String, String> getCustom() {
                return custom;
            }

            public Map<String, String> getEnvironment() {
                return env;
            }
        };
    }

    public String getAwsRequestId() {
        return requestId;
    }

    public String getLogGroupName() {
        return System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
    }

    public String getLogStreamName() {
        return System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");
    }

    public String getFunctionName() {
        return System.getenv("AWS_LAMBDA_FUNCTION_NAME");
    }

    public String getFunctionVersion() {
        return System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
    }

    public String getInvokedFunctionArn() {
        return functionArn;
    }

    public CognitoIdentity getIdentity() {
        return identity;
    }

    public ClientContext getClientContext() {
        return clientContext;
    }

    public int getRemainingTimeInMillis() {
        long left = deadlineMs - System.currentTimeMillis();
        return (int) Math.max(0, Math.min(Integer.MAX_VALUE, left));
    }

    public int getMemoryLimitInMB() {
        try {
            return Integer.parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
        } catch (RuntimeException e) {
            return 128;
        }
    }

    public LambdaLogger getLogger() {
        return logger;
    }

    public String getXrayTraceId() {
        return traceId;
    }

    public String getTenantId() {
        return tenantId;
    }
}
