package dev.harness.core;

import com.google.gson.annotations.SerializedName;
import java.util.LinkedHashMap;
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
    /** The delegate that took at least one op: gpu, nnapi, xnnpack, or none when everything ran on CPU kernels. */
    @SerializedName("delegate_applied") public String delegateApplied;
    /** Why the requested delegate was not applied (its exception), null when it was. */
    @SerializedName("delegate_error") public String delegateError;
    /** Op name to the kernel that ran it: the delegate's name, or "cpu" for the interpreter's own kernels. */
    @SerializedName("ops_by_delegate") public Map<String, String> opsByDelegate = new LinkedHashMap<>();
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
}
