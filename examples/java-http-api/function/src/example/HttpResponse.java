package example;

import java.util.LinkedHashMap;
import java.util.Map;

/** The answer in payload format 2.0 (aws-lambda-java-events' APIGatewayV2HTTPResponse). */
public class HttpResponse {
    private final int statusCode;
    private final Map<String, String> headers = new LinkedHashMap<>();
    private final String body;

    public HttpResponse(int statusCode, String body) {
        this.statusCode = statusCode;
        this.body = body;
        headers.put("content-type", "application/json");
    }

    public int getStatusCode() {
        return statusCode;
    }

    public Map<String, String> getHeaders() {
        return headers;
    }

    public String getBody() {
        return body;
    }
}
