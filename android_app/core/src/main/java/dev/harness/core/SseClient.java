package dev.harness.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;

/**
 * Follows a `harness serve` event stream (/api/events) over plain java.net, as EventSource would: on any
 * drop it waits the server's `retry:` delay and reconnects with Last-Event-ID, so the server replays
 * exactly the events missed (the live server keeps a history for this). No android.* imports: the Live
 * screen runs it on a background thread and posts each event to the UI.
 */
public final class SseClient {
    /** Receives every event once, in order, plus the connection's state for the "live" badge. */
    public interface Listener {
        void onEvent(SseEvent event);

        default void onState(boolean connected, String why) {}
    }

    private final URL url;
    private final String bearer;
    private final Listener listener;
    private final SseParser parser = new SseParser();
    private volatile boolean stopped;
    private volatile boolean dropped;
    private volatile HttpURLConnection current;
    private volatile InputStream currentStream;
    private long defaultRetryMs = 2000;
    private int connects;

    /** `eventsUrl` is the full /api/events URL; `token` (or null) is sent as a Bearer header. */
    public SseClient(URL eventsUrl, String token, Listener listener) {
        this.url = eventsUrl;
        this.bearer = token;
        this.listener = listener;
    }

    /** Resume from an id saved earlier (e.g. across an activity restart). */
    public SseClient resumeFrom(String lastEventId) {
        if (lastEventId != null) {
            parser.seedLastEventId(lastEventId);
        }
        return this;
    }

    public String lastEventId() {
        return parser.lastEventId();
    }

    /** How many times a connection was opened (the first and every reconnect). */
    public int connects() {
        return connects;
    }

    public void setDefaultRetryMs(long ms) {
        defaultRetryMs = ms;
    }

    /** Ends run(): closes the open stream; no reconnect follows. */
    public void stop() {
        stopped = true;
        dropConnection();
    }

    /** Close the current connection as a lost network would; run() reconnects with Last-Event-ID. */
    public void dropConnection() {
        dropped = true; // what was received but not yet read is lost, as on a real network loss
        InputStream in = currentStream;
        HttpURLConnection c = current;
        try {
            if (in != null) {
                in.close();
            }
        } catch (IOException ignored) {
            // closing a broken stream: nothing to keep
        }
        if (c != null) {
            c.disconnect();
        }
    }

    /** Blocks, following the stream until stop(); reconnects after every drop or error. */
    public void run() {
        while (!stopped) {
            String why = readOnce();
            if (stopped) {
                break;
            }
            listener.onState(false, why);
            long wait = parser.retryMs() >= 0 ? parser.retryMs() : defaultRetryMs;
            try {
                Thread.sleep(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** One connection: returns why it ended. */
    String readOnce() {
        HttpURLConnection c = null;
        try {
            c = (HttpURLConnection) url.openConnection();
            c.setRequestProperty("Accept", "text/event-stream");
            c.setRequestProperty("Cache-Control", "no-store");
            if (parser.lastEventId() != null) {
                c.setRequestProperty("Last-Event-ID", parser.lastEventId());
            }
            if (bearer != null) {
                c.setRequestProperty("Authorization", "Bearer " + bearer);
            }
            c.setConnectTimeout(10_000);
            c.setReadTimeout(60_000); // the server sends a keep-alive comment every 15 s
            current = c;
            dropped = false;
            connects++;
            int code = c.getResponseCode();
            if (code != 200) {
                return "HTTP " + code;
            }
            String ctype = c.getContentType();
            if (ctype == null || !ctype.startsWith("text/event-stream")) {
                return "not an event stream: " + ctype;
            }
            InputStream in = c.getInputStream();
            currentStream = in;
            listener.onState(true, "connected");
            parser.resetPending();
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            String line;
            while (!stopped && !dropped && (line = r.readLine()) != null) {
                SseEvent ev = parser.line(line);
                if (ev != null) {
                    listener.onEvent(ev);
                }
            }
            return dropped ? "connection dropped" : "stream ended";
        } catch (IOException e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        } finally {
            currentStream = null;
            current = null;
            if (c != null) {
                c.disconnect();
            }
        }
    }
}
