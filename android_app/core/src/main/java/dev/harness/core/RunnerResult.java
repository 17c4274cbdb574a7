package dev.harness.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.annotations.SerializedName;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A measured job: the same keys, names and schema_version as rpi/runner.py writes (contracts/results/ok.json),
 * so the host reads the companion app's file exactly as it reads a Raspberry Pi's stdout. Figures that were
 * not measured stay null (written as JSON null), never filled in.
 */
public final class RunnerResult {
    @SerializedName("schema_version") public int schemaVersion = Json.SCHEMA_VERSION;
    @SerializedName("runtime") public String runtime;
    @SerializedName("runtime_version") public String runtimeVersion;
    /** The runner's Python version; the app has none and writes null. */
    @SerializedName("python") public String python;
    @SerializedName("machine") public String machine;
    @SerializedName("model_path") public String modelPath;
    @SerializedName("threads") public int threads;
    /** The delegate that ran (schema 3: never only the one asked for). */
    @SerializedName("delegate") public String delegate;
    @SerializedName("delegate_requested") public String delegateRequested;
    @SerializedName("error") public String error;
    @SerializedName("init_us") public Double initUs;
    @SerializedName("ops_total") public Integer opsTotal;
    @SerializedName("ops_delegated") public Integer opsDelegated;
    @SerializedName("ops_on_cpu_kernels") public List<String> opsOnCpuKernels = new ArrayList<>();
    @SerializedName("inputs") public List<InputSpec> inputs = new ArrayList<>();
    @SerializedName("first_inference_us") public Double firstInferenceUs;
    @SerializedName("warmup_runs_done") public Integer warmupRunsDone;
    @SerializedName("duration_s") public Double durationS;
    @SerializedName("timed_window_unix_s") public List<Double> timedWindowUnixS;
    @SerializedName("latencies_us") public List<Double> latenciesUs = new ArrayList<>();
    @SerializedName("peak_rss_delta_mb") public Double peakRssDeltaMb;
    @SerializedName("peak_rss_mb") public Double peakRssMb;
    /** VmRSS when the run ended: not a peak of anything. */
    @SerializedName("end_rss_mb") public Double endRssMb;
    @SerializedName("temperatures") public List<TempSample> temperatures = new ArrayList<>();
    /** [t_s, phase, {cpu: {cur, max}}] clock readings (MHz) before, during and after the timed loop. */
    @SerializedName("cpu_freq") public List<JsonElement> cpuFreq = new ArrayList<>();

    /** Copy what the timed loop measured into the result's fields. */
    public void apply(TimedLoop.Outcome loop) {
        firstInferenceUs = loop.firstInferenceUs;
        warmupRunsDone = loop.warmupRunsDone;
        durationS = loop.durationS;
        timedWindowUnixS = Arrays.asList(loop.windowStartUnixS, loop.windowEndUnixS); // no List.of: Android < 11
        latenciesUs = new ArrayList<>(loop.latenciesUs);
    }

    public static RunnerResult fromJson(String json) {
        return Json.GSON.fromJson(json, RunnerResult.class);
    }

    public String toJson() {
        return Json.GSON.toJson(this);
    }

    /**
     * The result with Android-only readings under one extra key ("android"): the runner's keys stay
     * exactly the contract's, and the host files the extra object beside the measurement.
     */
    public String toJsonWith(String key, Object extra) {
        JsonObject obj = Json.GSON.toJsonTree(this).getAsJsonObject();
        JsonElement tree = Json.GSON.toJsonTree(extra);
        obj.add(key, tree);
        return Json.GSON.toJson(obj);
    }
}
