package dev.harness.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What the Live screen shows, built from `harness serve`'s JSON and events exactly as the web page builds
 * it (harness/live/page.py): the followed run, its progress, what is being measured now, and one card per
 * device|model|variant, newest first. Pure data: the activity only renders cards().
 */
public final class LiveModel {
    /** One result card, already formatted the way the page formats it. */
    public static final class Card {
        public final String key;
        public final String title;
        public final String device;
        public final boolean ok;
        public final boolean valid;
        /** "3.3 µs p50", "12.345 ms p50", or the error text. */
        public final String headline;
        public final String details;
        public final String flags;

        Card(String key, String title, String device, boolean ok, boolean valid, String headline, String details,
             String flags) {
            this.key = key;
            this.title = title;
            this.device = device;
            this.ok = ok;
            this.valid = valid;
            this.headline = headline;
            this.details = details;
            this.flags = flags;
        }
    }

    private String runId;
    private String status = "-";
    private Integer total;
    private String current = "idle";
    private boolean follow = true;
    private final Map<String, JsonObject> results = new LinkedHashMap<>();

    public String runId() {
        return runId;
    }

    public String status() {
        return status;
    }

    public String current() {
        return current;
    }

    public Integer total() {
        return total;
    }

    public int done() {
        return results.size();
    }

    public int errors() {
        int n = 0;
        for (JsonObject m : results.values()) {
            if (!"ok".equals(str(m, "status"))) {
                n++;
            }
        }
        return n;
    }

    /** Stop following the newest run (the user picked an older one). */
    public void setFollow(boolean follow) {
        this.follow = follow;
    }

    /** "3 / 12 done · 1 errors", as the page's progress line. */
    public String progressText() {
        String head = total != null ? done() + " / " + total : String.valueOf(done());
        int e = errors();
        return head + " done" + (e > 0 ? " · " + e + " errors" : "");
    }

    /** 0..1 for the progress bar; 1 when the total is unknown but something finished. */
    public double progressFraction() {
        if (total != null && total > 0) {
            return Math.min(1.0, done() / (double) total);
        }
        return done() > 0 ? 1.0 : 0.0;
    }

    /** Load a run as /api/runs/&lt;id&gt; returns it: {"run": {...}, "results": [...]}. */
    public void loadRun(String json) {
        JsonObject obj = JsonParser.parseString(json).getAsJsonObject();
        JsonObject run = obj.getAsJsonObject("run");
        runId = str(run, "run_id");
        status = str(run, "status");
        total = integer(run, "total");
        results.clear();
        for (JsonElement m : obj.getAsJsonArray("results")) {
            JsonObject o = m.getAsJsonObject();
            results.put(key(o), o);
        }
    }

    /**
     * Apply one event; returns the run id the screen should load from the API when the event says a
     * different run is now the one to follow (null otherwise).
     */
    public String apply(SseEvent ev) {
        JsonObject p = JsonParser.parseString(ev.data).getAsJsonObject();
        switch (ev.type) {
            case "run_started": {
                String rid = str(p, "run_id");
                if (follow || rid.equals(runId)) {
                    boolean other = !rid.equals(runId);
                    runId = rid;
                    status = "running";
                    Integer t = integer(p, "total");
                    if (t != null) {
                        total = t;
                    }
                    if (other) {
                        results.clear();
                        return rid;
                    }
                }
                return null;
            }
            case "convert_started":
                current = "converting " + shortName(str(p, "model")) + " · " + str(p, "variant") + " ("
                        + (integer(p, "index") + 1) + "/" + integer(p, "total") + ")";
                return null;
            case "job_started":
                current = "measuring " + str(p, "device") + " · " + shortName(str(p, "model")) + " · "
                        + str(p, "variant");
                return null;
            case "job_finished": {
                JsonObject m = p.getAsJsonObject("measurement");
                String rid = str(m, "run_id");
                if (!rid.equals(runId)) {
                    if (follow) {
                        runId = rid;
                        results.clear();
                        results.put(key(m), m);
                        return rid;
                    }
                    return null;
                }
                results.remove(key(m));
                results.put(key(m), m);
                return null;
            }
            case "run_finished":
                if (str(p, "run_id").equals(runId)) {
                    String s = str(p, "status");
                    status = s == null ? "finished" : s;
                    current = "idle";
                }
                return null;
            default:
                return null;
        }
    }

    /** Cards newest first, like the page (which prepends each new card). */
    public List<Card> cards() {
        List<Card> out = new ArrayList<>();
        for (JsonObject m : results.values()) {
            out.add(0, card(m));
        }
        return out;
    }

    static Card card(JsonObject m) {
        String label = str(m, "model_label") != null ? str(m, "model_label") : str(m, "model");
        String title = label + " · " + str(m, "variant");
        boolean ok = "ok".equals(str(m, "status"));
        Boolean valid = bool(m, "valid");
        if (!ok) {
            String err = str(m, "error");
            return new Card(key(m), title, str(m, "device"), false, false, err == null ? "error" : err, "", "");
        }
        Double p50 = number(m, "p50_us");
        String headline;
        if (p50 != null && p50 < 100) {
            headline = String.format(Locale.ROOT, "%.1f µs p50", p50);
        } else {
            headline = ms(p50) + " ms p50";
        }
        List<String> more = new ArrayList<>();
        more.add("p90 " + ms(number(m, "p90_us")) + " ms");
        more.add("p99 " + ms(number(m, "p99_us")) + " ms");
        Double cv = number(m, "cv");
        if (cv != null) {
            more.add(String.format(Locale.ROOT, "CV %.1f%%", 100 * cv));
        }
        Integer runs = integer(m, "runs");
        if (runs != null && runs > 0) {
            more.add(runs + " runs");
        }
        Double size = number(m, "size_bytes");
        if (size != null && size > 0) {
            more.add(size >= 1e6 ? String.format(Locale.ROOT, "%.2f MB", size / 1e6)
                    : String.format(Locale.ROOT, "%.1f kB", size / 1e3));
        }
        Double energy = number(m, "energy_per_inference_mj");
        if (energy != null) {
            more.add(String.format(Locale.ROOT, "%.3g mJ", energy));
        }
        List<String> flags = new ArrayList<>();
        if (m.has("flags") && m.get("flags").isJsonArray()) {
            m.getAsJsonArray("flags").forEach(f -> flags.add(f.getAsString()));
        }
        return new Card(key(m), title, str(m, "device"), true, valid == null || valid, headline,
                String.join(" · ", more), flags.isEmpty() ? "" : "⚠ " + String.join(", ", flags));
    }

    /** Microseconds as the page's milliseconds: 3 decimals under 10 ms, 1 above, "-" when not measured. */
    static String ms(Double us) {
        if (us == null) {
            return "-";
        }
        return String.format(Locale.ROOT, us < 10000 ? "%.3f" : "%.1f", us / 1000);
    }

    static String key(JsonObject m) {
        return str(m, "device") + "|" + str(m, "model") + "|" + str(m, "variant");
    }

    private static String shortName(String model) {
        return model == null ? "" : model.substring(model.lastIndexOf('/') + 1);
    }

    private static String str(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    private static Double number(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e.getAsDouble();
    }

    private static Integer integer(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e.getAsInt();
    }

    private static Boolean bool(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e == null || e.isJsonNull() ? null : e.getAsBoolean();
    }
}
