package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;

/**
 * contracts/results/android_ok.json (the app's result with its "android" block), the delegate that ran, and
 * the result assembly that used to live in the uncompiled LiteRtJob.
 */
public class AppRunTest {
    private static Map<String, String> kinds(JsonObject o) {
        Map<String, String> out = new TreeMap<>();
        o.entrySet().forEach(e -> out.put(e.getKey(), e.getValue().isJsonNull() ? "null"
                : e.getValue().isJsonArray() ? "array" : e.getValue().isJsonObject() ? "object"
                : e.getValue().getAsJsonPrimitive().isNumber() ? "number"
                : e.getValue().getAsJsonPrimitive().isString() ? "string" : "bool"));
        return out;
    }

    @Test
    public void theAndroidGoldenResultRoundTripsEveryKeyOfItsBlock() throws Exception {
        String text = Golden.read("results/android_ok.json");
        JsonObject golden = JsonParser.parseString(text).getAsJsonObject();
        JsonObject block = golden.getAsJsonObject("android");
        AndroidReadings a = AndroidReadings.fromJson(block.toString());
        assertEquals("the host reads it", null, a.delegateError);
        assertEquals(Arrays.asList(2, 2), a.outputsShape);
        assertTrue(a.outputsPath.endsWith(".outputs.f32"));
        JsonObject back = JsonParser.parseString(RunnerResult.fromJson(text).toJsonWith("android", a)).getAsJsonObject();
        assertEquals("keys and kinds of the android block", kinds(block), kinds(back.getAsJsonObject("android")));
        assertEquals(golden, back);
    }

    @Test
    public void aBareBlockHasTheGoldenKeys() throws Exception {
        JsonObject block = JsonParser.parseString(Golden.read("results/android_ok.json")).getAsJsonObject()
                .getAsJsonObject("android");
        JsonObject bare = Json.GSON.toJsonTree(new AndroidReadings()).getAsJsonObject();
        assertEquals(block.keySet(), bare.keySet());
        JsonObject battery = Json.GSON.toJsonTree(new AndroidReadings.Battery()).getAsJsonObject();
        assertEquals(block.getAsJsonObject("battery_before").keySet(), battery.keySet());
    }

    private static AppRun run(String delegate, String error, String... log) {
        AppRun r = new AppRun();
        r.job = Job.fromJson("{\"model_path\": \"/sdcard/m.tflite\", \"delegate\": \"" + delegate + "\"}");
        r.runtimeVersion = "1.4.0";
        r.machine = "arm64-v8a";
        r.initUs = 10;
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {100.0});
        TimedLoop.Settings s = new TimedLoop.Settings();
        s.minRuns = 3;
        s.maxS = 1.0;
        s.sampleIntervalS = 0.5;
        r.loop = TimedLoop.run(clock, s, clock, null);
        r.delegateError = error;
        r.readings.tfliteLog = Arrays.asList(log);
        return r;
    }

    @Test
    public void aRefusedDelegateIsNotTheOneThatRan() {
        JsonObject o = JsonParser.parseString(run("gpu", "IllegalArgumentException: GPU delegate not supported")
                .resultJson()).getAsJsonObject();
        assertEquals("gpu", o.get("delegate_requested").getAsString());
        assertEquals("none", o.get("delegate").getAsString());
        JsonObject a = o.getAsJsonObject("android");
        assertEquals("none", a.get("delegate_applied").getAsString());
        assertTrue(a.get("delegate_error").getAsString().startsWith("IllegalArgumentException"));
    }

    @Test
    public void aDelegateTheLogShowsTookNothingIsNotTheOneThatRan() {
        String json = run("gpu", null,
                "I/tflite  (123): Replacing 0 out of 5 node(s) with delegate (TfLiteGpuDelegateV2) node, "
                        + "yielding 0 partitions for the whole graph.").resultJson();
        JsonObject o = JsonParser.parseString(json).getAsJsonObject();
        assertEquals("none", o.get("delegate").getAsString());
        assertEquals(0, o.get("ops_delegated").getAsInt());
        assertEquals(5, o.get("ops_total").getAsInt());
    }

    @Test
    public void anAppliedDelegateAndTheRunnersArithmetic() {
        AppRun r = run("gpu", null, "I/tflite  (123): Replacing 4 out of 5 node(s) with delegate "
                + "(TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.");
        r.vmHwmKb = 90_113L;
        r.vmRssBaseKb = 40_000L;
        r.vmRssEndKb = 80_001L;
        r.peakReset = true;
        r.nativeTimer = true;
        JsonObject o = JsonParser.parseString(r.resultJson()).getAsJsonObject();
        assertEquals("gpu", o.get("delegate").getAsString());
        assertEquals(4, o.get("ops_delegated").getAsInt());
        assertEquals(88.001, o.get("peak_rss_mb").getAsDouble(), 0.0);
        assertEquals(48.938, o.get("peak_rss_delta_mb").getAsDouble(), 0.0);
        assertEquals(78.126, o.get("end_rss_mb").getAsDouble(), 0.0);
        assertEquals("native_invoke", o.getAsJsonObject("android").get("latency_timer").getAsString());
        assertEquals(3, o.getAsJsonArray("latencies_us").size());
        // The runner's keys are exactly the contract's; the app's own readings sit under "android" only.
        JsonObject plain = o.deepCopy();
        plain.remove("android");
        JsonElement ok = JsonParser.parseString(Golden.read0("results/ok.json"));
        assertEquals(ok.getAsJsonObject().keySet(), plain.keySet());
    }

    @Test
    public void theCpuKernelsAreNone() {
        JsonObject o = JsonParser.parseString(run("cpu", null).resultJson()).getAsJsonObject();
        assertEquals("none", o.get("delegate").getAsString());
        assertNull(null, o.get("ops_total").isJsonNull() ? null : o.get("ops_total"));
        assertEquals("java_run_call", o.getAsJsonObject("android").get("latency_timer").getAsString());
    }

    @Test
    public void eachSampleIsTheRuntimesOwnInvokeTimeWhenItGivesOne() {
        // The run call costs 1000 ns on the clock (copies in and out included); Invoke alone took 600 ns.
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {1.0});
        TimedLoop.Settings s = new TimedLoop.Settings();
        s.minRuns = 4;
        s.maxS = 1.0;
        s.sampleIntervalS = 0.5;
        TimedLoop.Outcome own = TimedLoop.run(() -> {
            clock.run();
            return 600L;
        }, s, clock, null);
        assertEquals(Arrays.asList(0.6, 0.6, 0.6, 0.6), own.latenciesUs);
        assertEquals(0.6, own.firstInferenceUs, 0.0);
        TimedLoop.Outcome whole = TimedLoop.run(() -> {
            clock.run();
            return -1L;
        }, s, clock, null);
        assertEquals(Arrays.asList(1.0, 1.0, 1.0, 1.0), whole.latenciesUs);
    }

    @Test
    public void aSustainedRunWritesTheRunnersSustainedKeysAndThePlainOneNone() {
        AppRun plain = run("xnnpack", null);
        JsonObject p = JsonParser.parseString(plain.resultJson()).getAsJsonObject();
        assertTrue(!p.has("windows") && !p.has("sustained_s") && !p.has("window_thermal_status"));
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {10_000.0});
        int[] asked = {0};
        Integer[] statuses = {0, 0, 2};
        SustainedLoop.Result sus = SustainedLoop.run(() -> {
            clock.run();
            return -1L;
        }, 60.0, 0.5, 0.5, clock, null,
                () -> statuses[Math.min(asked[0], 2)], () -> ++asked[0] >= 3);
        AppRun r = run("xnnpack", null);
        r.loop = sus.loop;
        r.sustained = sus.sustained;
        JsonObject o = JsonParser.parseString(r.resultJson()).getAsJsonObject();
        assertEquals(60.0, o.get("sustained_s").getAsDouble(), 0.0);
        assertEquals(0.5, o.get("window_s").getAsDouble(), 0.0);
        assertEquals(3, o.getAsJsonArray("windows").size());
        assertEquals("[1.5,150]", o.getAsJsonArray("windows").get(2).toString()); // runs written as an integer
        assertTrue(o.get("interrupted").getAsBoolean());
        assertEquals(0.0, o.get("timed_start_s").getAsDouble(), 0.0);
        assertEquals("[0,0,2]", o.getAsJsonArray("window_thermal_status").toString());
        assertEquals(150, o.getAsJsonArray("latencies_us").size());
        assertEquals(0, o.get("warmup_runs_done").getAsInt()); // the cold start is what sustained mode measures
    }
}
