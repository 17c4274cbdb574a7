package dev.harness.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The event-stream parsing rules of the HTML standard (what a browser's EventSource does), fed line by
 * line: `field: value` with one leading space dropped, `:` comments ignored, data lines joined with
 * newlines, a blank line dispatches and commits the last `id` seen (one with NUL is ignored, and the id of a
 * half-received event is not kept), `retry` of digits only sets
 * the reconnection delay, an event with no data is not dispatched, the type defaults to "message".
 */
public final class SseParser {
    private final StringBuilder data = new StringBuilder();
    private boolean hasData;
    private String type = "";
    private String idBuffer;
    private String lastEventId;
    private long retryMs = -1;

    /** The id to send as Last-Event-ID on reconnect (null before any id). */
    public String lastEventId() {
        return lastEventId;
    }

    /** The server's `retry:` in milliseconds, or -1 when it sent none. */
    public long retryMs() {
        return retryMs;
    }

    /** Start over after a dropped connection: a half-received event (and its id) is discarded. */
    public void resetPending() {
        clearEvent();
        idBuffer = lastEventId;
    }

    /** Take `id` as the last event id, as if an event with that id had been dispatched. */
    public void seedLastEventId(String id) {
        idBuffer = lastEventId = id;
    }

    private void clearEvent() {
        data.setLength(0);
        hasData = false;
        type = "";
    }

    /** Feed one line (without its line terminator); returns the event it completes, else null. */
    public SseEvent line(String line) {
        if (line.isEmpty()) {
            lastEventId = idBuffer; // committed at every dispatch, even of an event without data
            if (!hasData) {
                clearEvent();
                return null;
            }
            SseEvent ev = new SseEvent(lastEventId, type.isEmpty() ? "message" : type, data.toString());
            clearEvent();
            return ev;
        }
        if (line.startsWith(":")) {
            return null;
        }
        String field = line;
        String value = "";
        int colon = line.indexOf(':');
        if (colon >= 0) {
            field = line.substring(0, colon);
            value = line.substring(colon + 1);
            if (value.startsWith(" ")) {
                value = value.substring(1);
            }
        }
        switch (field) {
            case "event":
                type = value;
                break;
            case "data":
                if (hasData) {
                    data.append('\n');
                }
                data.append(value);
                hasData = true;
                break;
            case "id":
                if (value.indexOf('\0') < 0) {
                    idBuffer = value;
                }
                break;
            case "retry":
                if (!value.isEmpty() && value.chars().allMatch(Character::isDigit)) {
                    retryMs = Long.parseLong(value);
                }
                break;
            default:
                break; // unknown fields are ignored
        }
        return null;
    }

    /** Every event in a whole stream's text (CRLF, CR or LF line ends). */
    public List<SseEvent> feedAll(String text) {
        List<SseEvent> out = new ArrayList<>();
        for (String ln : text.split("\r\n|\r|\n", -1)) {
            SseEvent ev = line(ln);
            if (ev != null) {
                out.add(ev);
            }
        }
        return out;
    }
}
