package com.amazonaws.services.lambda.runtime;

/** The calling application, from the client context. */
public interface Client {
    String getInstallationId();

    String getAppTitle();

    String getAppVersionName();

    String getAppVersionCode();

    String getAppPackageName();
}
