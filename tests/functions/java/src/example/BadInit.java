package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

/** A handler whose class initialization fails. */
public class BadInit implements RequestHandler<Object, String> {
    static {
        if (System.getenv("AWS_LAMBDA_FUNCTION_NAME") != null) {
            throw new IllegalStateException("cannot start without a database");
        }
    }

    @Override
    public String handleRequest(Object input, Context context) {
        return "unreachable";
    }
}
