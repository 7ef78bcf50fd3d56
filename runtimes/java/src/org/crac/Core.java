package org.crac;

import java.util.ArrayList;
import java.util.List;

/**
 * The global context. On Nimbus a SnapStart version's environment is initialized when the
 * version is published: the runtime calls {@link #runBeforeCheckpoint} then, and
 * {@link #runAfterRestore} when the environment is handed to its first invocation.
 */
public final class Core {
    private static final GlobalContext GLOBAL = new GlobalContext();

    private Core() {}

    public static Context<Resource> getGlobalContext() {
        return GLOBAL;
    }

    /** Nimbus keeps initialized environments instead of memory images: nothing to do here. */
    public static void checkpointRestore() throws CheckpointException, RestoreException {}

    /** Runs every registered resource's beforeCheckpoint, newest first. */
    public static void runBeforeCheckpoint() throws Exception {
        GLOBAL.beforeCheckpoint(null);
    }

    /** Runs every registered resource's afterRestore, oldest first. */
    public static void runAfterRestore() throws Exception {
        GLOBAL.afterRestore(null);
    }

    private static final class GlobalContext extends Context<Resource> {
        private final List<Resource> resources = new ArrayList<>();

        @Override
        public synchronized void register(Resource resource) {
            resources.add(resource);
        }

        private synchronized List<Resource> snapshot() {
            return new ArrayList<>(resources);
        }

        @Override
        public void beforeCheckpoint(Context<? extends Resource> context) throws Exception {
            List<Resource> all = snapshot();
            for (int i = all.size() - 1; i >= 0; i--) {
                all.get(i).beforeCheckpoint(this);
            }
        }

        @Override
        public void afterRestore(Context<? extends Resource> context) throws Exception {
            for (Resource r : snapshot()) {
                r.afterRestore(this);
            }
        }
    }
}
