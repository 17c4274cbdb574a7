package dev.harness.core;

/** One dispatched server-sent event: its id (the last one seen, as EventSource keeps it), type and data. */
public final class SseEvent {
    public final String id;
    public final String type;
    public final String data;

    public SseEvent(String id, String type, String data) {
        this.id = id;
        this.type = type;
        this.data = data;
    }

    @Override
    public String toString() {
        return "SseEvent{id=" + id + ", type=" + type + ", data=" + data + "}";
    }
}
