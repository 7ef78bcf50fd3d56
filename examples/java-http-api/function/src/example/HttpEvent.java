package example;

import java.util.Map;

/**
 * The HTTP API's payload format 2.0 event, the fields this function reads (the same
 * shape as aws-lambda-java-events' APIGatewayV2HTTPEvent; unknown fields are ignored).
 */
public class HttpEvent {
    private String routeKey;
    private String rawPath;
    private Map<String, String> pathParameters;
    private Map<String, String> queryStringParameters;
    private String body;
    private boolean isBase64Encoded;
    private RequestContext requestContext;

    public static class RequestContext {
        private Http http;

        public Http getHttp() {
            return http;
        }

        public void setHttp(Http http) {
            this.http = http;
        }
    }

    public static class Http {
        private String method;
        private String sourceIp;

        public String getMethod() {
            return method;
        }

        public void setMethod(String method) {
            this.method = method;
        }

        public String getSourceIp() {
            return sourceIp;
        }

        public void setSourceIp(String sourceIp) {
            this.sourceIp = sourceIp;
        }
    }

    public String getRouteKey() {
        return routeKey;
    }

    public void setRouteKey(String routeKey) {
        this.routeKey = routeKey;
    }

    public String getRawPath() {
        return rawPath;
    }

    public void setRawPath(String rawPath) {
        this.rawPath = rawPath;
    }

    public Map<String, String> getPathParameters() {
        return pathParameters;
    }

    public void setPathParameters(Map<String, String> pathParameters) {
        this.pathParameters = pathParameters;
    }

    public Map<String, String> getQueryStringParameters() {
        return queryStringParameters;
    }

    public void setQueryStringParameters(Map<String, String> queryStringParameters) {
        this.queryStringParameters = queryStringParameters;
    }

    public String getBody() {
        return body;
    }

    public void setBody(String body) {
        this.body = body;
    }

    public boolean getIsBase64Encoded() {
        return isBase64Encoded;
    }

    public void setIsBase64Encoded(boolean isBase64Encoded) {
        this.isBase64Encoded = isBase64Encoded;
    }

    public RequestContext getRequestContext() {
        return requestContext;
    }

    public void setRequestContext(RequestContext requestContext) {
        this.requestContext = requestContext;
    }
}
