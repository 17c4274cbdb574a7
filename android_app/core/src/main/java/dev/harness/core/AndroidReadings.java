package dev.harness.core;

import com.google.gson.annotations.SerializedName;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the companion app measures beyond the runner's keys, written under "android" in its result file:
 * battery (BatteryManager), thermal status and headroom (PowerManager), which delegate took which ops,
 * and the app's own peak memory. A reading the platform did not give stays null.
 */
public final class AndroidReadings {
    /** One battery reading. current_ua is BatteryManager's CURRENT_NOW (µA; sign convention varies by vendor). */
    public static final class Battery {
        @SerializedName("level_pct") public Integer levelPct;
        @SerializedName("current_ua") public Long currentUa;
        @SerializedName("charge_counter_uah") public Long chargeCounterUah;
        @SerializedName("plugged") public Boolean plugged;
        @SerializedName("plugged_source") public String pluggedSource;
    }

    @SerializedName("delegate_requested") public String delegateRequested;
    /**
     * The delegate that took at least one op: gpu, nnapi, xnnpack, or none when everything ran on CPU kernels
     * (a refused delegate, or one the runtime's log shows took no node). The result's "delegate" is this.
     */
    @SerializedName("delegate_applied") public String delegateApplied;
    /** Why the requested delegate was not applied (its exception), null when it was. */
    @SerializedName("delegate_error") public String delegateError;
    /** Graph nodes per kernel provider: {"gpu": 29, "cpu": 2}, from the runtime's "Replacing N out of M" line. */
    @SerializedName("nodes_by_delegate") public Map<String, Integer> nodesByDelegate = new LinkedHashMap<>();
    /** The LiteRT runtime's own log lines of this job (tag tflite), which the host parses as well. */
    @SerializedName("tflite_log") public List<String> tfliteLog = new ArrayList<>();
    @SerializedName("battery_before") public Battery batteryBefore;
    @SerializedName("battery_after") public Battery batteryAfter;
    /** PowerManager.getCurrentThermalStatus (0 none .. 6 shutdown), API 29+. */
    @SerializedName("thermal_status_before") public Integer thermalStatusBefore;
    @SerializedName("thermal_status_after") public Integer thermalStatusAfter;
    /** PowerManager.getThermalHeadroom(0): 1.0 means throttling starts; API 30+. */
    @SerializedName("thermal_headroom_before") public Double thermalHeadroomBefore;
    @SerializedName("thermal_headroom_after") public Double thermalHeadroomAfter;
    /** Debug.MemoryInfo total PSS after the run, MB (the app's share of memory). */
    @SerializedName("pss_mb") public Double pssMb;
    @SerializedName("sdk_int") public Integer sdkInt;
    @SerializedName("device_model") public String deviceModel;
    @SerializedName("run_token") public String runToken;
    /**
     * What each latency sample timed: "native_invoke" (the runtime's Invoke alone, as rpi/runner.py and
     * benchmark_model time it) or "java_run_call" (the whole run call, input and output copies included,
     * on a runtime that did not report its own figure).
     */
    @SerializedName("latency_timer") public String latencyTimer;
    /** The evaluation outputs (raw little-endian float32) the host pulls and scores; null without eval. */
    @SerializedName("outputs_path") public String outputsPath;
    @SerializedName("outputs_shape") public List<Integer> outputsShape;
    /** Why the evaluation pass failed (the timing stands without it); null when it ran or was not asked. */
    @SerializedName("eval_error") public String evalError;

    public static AndroidReadings fromJson(String json) {
        return Json.GSON.fromJson(json, AndroidReadings.class);
    }
}
