package org.crac;

/** One or more resources failed after the restore. */
public class RestoreException extends Exception {
    private static final long serialVersionUID = 1L;

    public RestoreException() {}
}
