package dev.harness.core;

import com.google.gson.annotations.SerializedName;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A runner job, field for field as rpi/runner.py reads it (contracts/jobs/basic.json); defaults are the
 * runner's DEFAULT_JOB so a job that names only model_path behaves as it does on a Raspberry Pi.
 */
public final class Job {
    @SerializedName("model_path") public String modelPath;
    @SerializedName("threads") public int threads = 1;
    /** xnnpack (LiteRT's default CPU delegate), none (reference kernels), cpu, gpu or nnapi. */
    @SerializedName("delegate") public String delegate = "xnnpack";
    @SerializedName("input_shapes") public Map<String, List<Integer>> inputShapes;
    @SerializedName("seed") public long seed = 0;
    @SerializedName("warmup_runs") public int warmupRuns = 1;
    @SerializedName("warmup_s") public double warmupS = 0.5;
    @SerializedName("min_runs") public int minRuns = 50;
    @SerializedName("min_s") public double minS = 1.0;
    @SerializedName("max_s") public double maxS = 150.0;
    /** 0: no cap besides max_s. */
    @SerializedName("max_runs") public int maxRuns = 0;
    @SerializedName("sample_interval_s") public double sampleIntervalS = 0.5;
    @SerializedName("thermal_glob") public String thermalGlob = "/sys/class/thermal/thermal_zone*";
    /** An external delegate's shared library (Linux runner only; the app refuses none of the others). */
    @SerializedName("delegate_library") public String delegateLibrary;
    /** Thermal zone names (prefixes) that are not temperatures on this board, e.g. PMIC on a Jetson. */
    @SerializedName("ignore_sensors") public List<String> ignoreSensors = new ArrayList<>();
    @SerializedName("cpufreq_glob") public String cpufreqGlob = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq";
    /** A per-op profile pass after the timed runs (Linux runner only: the LiteRT C API profiler). */
    @SerializedName("op_profiling") public boolean opProfiling = false;
    @SerializedName("op_profile_runs") public int opProfileRuns = 20;

    public static Job fromJson(String json) {
        Job job = Json.GSON.fromJson(json, Job.class);
        if (job == null || job.modelPath == null || job.modelPath.isEmpty()) {
            throw new IllegalArgumentException("job has no model_path");
        }
        return job;
    }

    public String toJson() {
        return Json.GSON.toJson(this);
    }
}
