package dev.harness.core;

import static org.junit.Assert.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.Test;

/**
 * contracts/results/ios_ok.json, read here too: its runner part round-trips through the JVM result type, and
 * the iOS app's block keeps the keys the host and the Swift suite pin, so a rename fails every suite.
 */
public class IosBlockTest {
    static final Set<String> IOS_KEYS = new HashSet<>(Arrays.asList(
            "compute_units", "thermal_state_before", "thermal_states_during", "thermal_state_after",
            "battery_level_before", "battery_level_after", "battery_state_before", "battery_state_after",
            "memory_metric", "phys_footprint_mb", "outputs_path", "outputs_shape", "device", "os_version",
            "delegate_error", "eval_error", "compute_plan"));
    static final Set<String> PLAN_KEYS = new HashSet<>(Arrays.asList(
            "available", "reason", "ops_total", "ops_by_device", "ops_unplaced", "fell_back_count",
            "fell_back_to_cpu"));

    @Test
    public void theIosResultIsTheRunnersShapePlusItsPinnedBlock() throws Exception {
        JsonObject golden = JsonParser.parseString(Golden.read("results/ios_ok.json")).getAsJsonObject();
        JsonObject ios = golden.remove("ios").getAsJsonObject();
        assertEquals(IOS_KEYS, ios.keySet());
        assertEquals(PLAN_KEYS, ios.getAsJsonObject("compute_plan").keySet());
        JsonObject back = JsonParser.parseString(RunnerResult.fromJson(golden.toString()).toJson()).getAsJsonObject();
        assertEquals(golden, back);
    }
}
