package com.amazonaws.services.lambda.runtime;

/** The function's logger outside a handler (aws-lambda-java-core's entry point). */
public final class LambdaRuntime {
    private static volatile LambdaLogger logger = new LambdaLogger() {
        public void log(String message) {
            System.out.print(message);
            System.out.flush();
        }

        public void log(byte[] message) {
            System.out.write(message, 0, message.length);
            System.out.flush();
        }
    };

    private LambdaRuntime() {}

    public static LambdaLogger getLogger() {
        return logger;
    }

    /** Set by the runtime once it has read the log format and level. */
    public static void setLogger(LambdaLogger l) {
        logger = l;
    }
}
