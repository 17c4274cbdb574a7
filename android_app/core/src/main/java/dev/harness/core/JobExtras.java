package dev.harness.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The host's `am start` extras (devices/android_target.py _run_app; contracts/android/am_start.json) as a
 * runner Job. Extras the host does not send keep the runner's defaults; an extra of the wrong type (`--es
 * threads two`) is an error naming it, never a silent default. `--ef` values arrive as Java floats: each is
 * read back through its shortest decimal form, so 0.1 from the host is 0.1 in the loop, not 0.10000000149.
 */
public final class JobExtras {
    private JobExtras() {}

    public static Job toJob(Map<String, ?> extras) {
        Object model = extras.get("model");
        if (!(model instanceof String) || ((String) model).isEmpty()) {
            throw new IllegalArgumentException("intent has no model extra (--es model PATH)");
        }
        Job job = new Job();
        job.modelPath = (String) model;
        job.threads = integer(extras, "threads", job.threads);
        job.delegate = string(extras, "delegate", job.delegate);
        job.warmupRuns = integer(extras, "warmup_runs", job.warmupRuns);
        job.warmupS = decimal(extras, "warmup_secs", job.warmupS);
        job.minRuns = integer(extras, "num_runs", job.minRuns);
        job.minS = decimal(extras, "min_secs", job.minS);
        job.maxS = decimal(extras, "max_secs", job.maxS);
        job.maxRuns = integer(extras, "max_runs", job.maxRuns);
        job.sampleIntervalS = decimal(extras, "sample_interval_s", job.sampleIntervalS);
        Object seed = extras.get("seed");
        if (seed != null && !(seed instanceof Long || seed instanceof Integer)) {
            throw wrongType("seed", "an integer (--el)", seed);
        }
        job.seed = seed == null ? job.seed : ((Number) seed).longValue();
        job.inputShapes = inputShapes(extras);
        job.thermalGlob = ""; // an app cannot read /sys/class/thermal; PowerManager gives the thermal state
        return job;
    }

    /** The held-out inputs the host pushed (eval_path, eval_shape "1,16,16,3", eval_count), or null. */
    public static EvalInputs evalInputs(Map<String, ?> extras) {
        String path = string(extras, "eval_path", null);
        if (path == null) {
            return null;
        }
        String shape = string(extras, "eval_shape", "");
        int count = integer(extras, "eval_count", 0);
        List<Integer> dims = new ArrayList<>();
        try {
            for (String d : shape.split(",")) {
                dims.add(Integer.parseInt(d.trim()));
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("extra eval_shape must be comma-separated integers");
        }
        if (count <= 0 || dims.stream().anyMatch(d -> d <= 0)) {
            throw new IllegalArgumentException("extras eval_shape and eval_count must be positive");
        }
        return new EvalInputs(path, dims, count);
    }

    /**
     * Sustained mode's extras (`--ef sustained_s S`, optional `--ef window_s W`, 0 or absent: the runner's
     * sustained_s / 20, at least 0.5 s) as {sustained_s, window_s}; null when the host sent no sustained_s.
     */
    public static double[] sustained(Map<String, ?> extras) {
        if (extras.get("sustained_s") == null) {
            return null;
        }
        double total = decimal(extras, "sustained_s", 0.0);
        double window = decimal(extras, "window_s", 0.0);
        if (!(total > 0) || Double.isInfinite(total)) {
            throw new IllegalArgumentException("extra sustained_s must be a positive number of seconds");
        }
        if (!(window >= 0) || Double.isInfinite(window)) {
            throw new IllegalArgumentException("extra window_s must be 0 (the default) or a positive number of seconds");
        }
        return new double[] {total, window};
    }

    private static Map<String, List<Integer>> inputShapes(Map<String, ?> extras) {
        String text = string(extras, "input_shapes", null);
        if (text == null) {
            return null;
        }
        Map<String, List<Integer>> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, JsonElement> e : JsonParser.parseString(text).getAsJsonObject().entrySet()) {
                List<Integer> dims = new ArrayList<>();
                for (JsonElement d : e.getValue().getAsJsonArray()) {
                    dims.add(d.getAsInt());
                }
                out.put(e.getKey(), dims);
            }
        } catch (JsonParseException | IllegalStateException | UnsupportedOperationException | NumberFormatException e) {
            throw new IllegalArgumentException("extra input_shapes must be a JSON object of name: [dims]");
        }
        return out;
    }

    private static IllegalArgumentException wrongType(String key, String want, Object got) {
        return new IllegalArgumentException("extra " + key + " must be " + want + ", not a "
                + got.getClass().getSimpleName());
    }

    private static String string(Map<String, ?> extras, String key, String dflt) {
        Object v = extras.get(key);
        if (v != null && !(v instanceof String)) {
            throw wrongType(key, "a string (--es)", v);
        }
        return v == null ? dflt : (String) v;
    }

    private static int integer(Map<String, ?> extras, String key, int dflt) {
        Object v = extras.get(key);
        if (v != null && !(v instanceof Integer)) {
            throw wrongType(key, "an integer (--ei)", v);
        }
        return v == null ? dflt : (Integer) v;
    }

    static double decimal(Map<String, ?> extras, String key, double dflt) {
        Object v = extras.get(key);
        if (v instanceof Float) {
            return Double.parseDouble(Float.toString((Float) v));
        }
        if (v != null && !(v instanceof Double)) {
            throw wrongType(key, "a number (--ef)", v);
        }
        return v == null ? dflt : (Double) v;
    }
}
