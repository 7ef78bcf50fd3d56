package org.crac;

/** One or more resources failed before the checkpoint. */
public class CheckpointException extends Exception {
    private static final long serialVersionUID = 1L;

    public CheckpointException() {}
}
