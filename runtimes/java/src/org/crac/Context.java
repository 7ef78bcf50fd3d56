package org.crac;

/** A group of resources notified together; itself a resource. */
public abstract class Context<R extends Resource> implements Resource {
    protected Context() {}

    public abstract void register(R resource);
}
