package org.crac;

/** Something told before a checkpoint and after a restore (the org.crac API). */
public interface Resource {
    void beforeCheckpoint(Context<? extends Resource> context) throws Exception;

    void afterRestore(Context<? extends Resource> context) throws Exception;
}
