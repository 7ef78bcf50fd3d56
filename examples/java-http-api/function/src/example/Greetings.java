package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** GET /hello/{name} greets; POST /echo answers the body's length; anything else is 404. */
public class Greetings implements RequestHandler<HttpEvent, HttpResponse> {
    private final long startedAt = System.currentTimeMillis();

    @Override
    public HttpResponse handleRequest(HttpEvent event, Context context) {
        context.getLogger().log(event.getRouteKey() + " " + event.getRawPath());
        String method = event.getRequestContext().getHttp().getMethod();
        if ("GET".equals(method) && event.getPathParameters() != null && event.getPathParameters().containsKey("name")) {
            String name = event.getPathParameters().get("name");
            String greeting = event.getQueryStringParameters() != null
                    ? event.getQueryStringParameters().getOrDefault("greeting", "Hello") : "Hello";
            return new HttpResponse(200, "{\"message\":\"" + escape(greeting + ", " + name) + "\",\"warmSinceMs\":"
                    + (System.currentTimeMillis() - startedAt) + "}");
        }
        if ("POST".equals(method) && "/echo".equals(event.getRawPath())) {
            String body = event.getBody() == null ? "" : event.getBody();
            if (event.getIsBase64Encoded()) {
                body = new String(Base64.getDecoder().decode(body), StandardCharsets.UTF_8);
            }
            return new HttpResponse(200, "{\"length\":" + body.length() + ",\"requestId\":\"" + context.getAwsRequestId() + "\"}");
        }
        return new HttpResponse(404, "{\"message\":\"Not Found\"}");
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
