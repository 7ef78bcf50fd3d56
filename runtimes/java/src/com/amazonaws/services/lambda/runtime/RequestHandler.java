package com.amazonaws.services.lambda.runtime;

/** A handler taking an event deserialized to {@code I} and answering {@code O}. */
public interface RequestHandler<I, O> {
    O handleRequest(I input, Context context);
}
