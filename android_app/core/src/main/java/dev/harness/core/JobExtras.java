package dev.harness.core;

import java.util.Map;

/**
 * The host's `am start` extras (devices/android_target.py _run_app; contracts/android/am_start.json) as a
 * runner Job. Extras the host does not send keep the runner's defaults. `--ef` values arrive as Java floats:
 * each is read back through its shortest decimal form, so 0.1 from the host is 0.1 in the loop, not
 * 0.10000000149.
 */
public final class JobExtras {
    private JobExtras() {}

    public static Job toJob(Map<String, ?> extras) {
        Object model = extras.get("model");
        if (!(model instanceof String) || ((String) model).isEmpty()) {
            throw new IllegalArgumentException("intent has no model extra");
        }
        Job job = new Job();
        job.modelPath = (String) model;
        job.threads = integer(extras, "threads", job.threads);
        Object delegate = extras.get("delegate");
        job.delegate = delegate instanceof String ? (String) delegate : job.delegate;
        job.warmupRuns = integer(extras, "warmup_runs", job.warmupRuns);
        job.warmupS = decimal(extras, "warmup_secs", job.warmupS);
        job.minRuns = integer(extras, "num_runs", job.minRuns);
        job.minS = decimal(extras, "min_secs", job.minS);
        job.maxS = decimal(extras, "max_secs", job.maxS);
        job.maxRuns = integer(extras, "max_runs", job.maxRuns);
        job.sampleIntervalS = decimal(extras, "sample_interval_s", job.sampleIntervalS);
        Object seed = extras.get("seed");
        job.seed = seed instanceof Number ? ((Number) seed).longValue() : job.seed;
        job.thermalGlob = ""; // an app cannot read /sys/class/thermal; PowerManager gives the thermal state
        return job;
    }

    private static int integer(Map<String, ?> extras, String key, int dflt) {
        Object v = extras.get(key);
        return v instanceof Number ? ((Number) v).intValue() : dflt;
    }

    static double decimal(Map<String, ?> extras, String key, double dflt) {
        Object v = extras.get(key);
        if (v instanceof Float) {
            return Double.parseDouble(Float.toString((Float) v));
        }
        return v instanceof Number ? ((Number) v).doubleValue() : dflt;
    }
}
