package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

/** A handler whose exception (with a cause) escapes. */
public class Boom implements RequestHandler<Object, String> {
    @Override
    public String handleRequest(Object input, Context context) {
        throw new IllegalStateException("outer failure", new IllegalArgumentException("inner cause"));
    }
}
