package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** The client context a mobile caller sent with the invocation. */
public interface ClientContext {
    Client getClient();

    Map<String, String> getCustom();

    Map<String, String> getEnvironment();
}
