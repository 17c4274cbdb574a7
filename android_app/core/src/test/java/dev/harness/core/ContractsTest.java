package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;

/** The runner's JSON round-trips through the JVM types with the same keys, values and JSON kinds. */
public class ContractsTest {
    private static String kind(JsonElement e) {
        if (e.isJsonNull()) {
            return "null";
        }
        if (e.isJsonArray()) {
            return "array";
        }
        if (e.isJsonObject()) {
            return "object";
        }
        return e.getAsJsonPrimitive().isNumber() ? "number" : e.getAsJsonPrimitive().isString() ? "string" : "bool";
    }

    private static Map<String, String> kinds(JsonObject o) {
        Map<String, String> out = new TreeMap<>();
        o.entrySet().forEach(e -> out.put(e.getKey(), kind(e.getValue())));
        return out;
    }

    private static void assertSameJson(String golden, String ours) {
        JsonObject g = JsonParser.parseString(golden).getAsJsonObject();
        JsonObject o = JsonParser.parseString(ours).getAsJsonObject();
        assertEquals("keys and their JSON kinds", kinds(g), kinds(o));
        assertEquals("values", g, o);
    }

    @Test
    public void jobDecodesAndReencodesWithTheSameKeys() throws Exception {
        String golden = Golden.read("jobs/basic.json");
        Job job = Job.fromJson(golden);
        assertEquals("models/tiny.tflite", job.modelPath);
        assertEquals("xnnpack", job.delegate);
        assertEquals(20, job.minRuns);
        assertEquals(20, job.maxRuns);
        assertEquals(0.5, job.sampleIntervalS, 0.0);
        assertSameJson(golden, job.toJson());
    }

    @Test
    public void jobDefaultsAreTheRunnersDefaults() {
        Job job = Job.fromJson("{\"model_path\": \"m.tflite\"}");
        assertEquals(1, job.threads);
        assertEquals(1, job.warmupRuns);
        assertEquals(0.5, job.warmupS, 0.0);
        assertEquals(50, job.minRuns);
        assertEquals(1.0, job.minS, 0.0);
        assertEquals(150.0, job.maxS, 0.0);
        assertEquals(0, job.maxRuns);
    }

    @Test(expected = IllegalArgumentException.class)
    public void aJobWithoutAModelIsRefused() {
        Job.fromJson("{\"threads\": 2}");
    }

    @Test
    public void okResultRoundTrips() throws Exception {
        String golden = Golden.read("results/ok.json");
        RunnerResult r = RunnerResult.fromJson(golden);
        assertEquals(Json.SCHEMA_VERSION, r.schemaVersion);
        assertEquals(20, r.latenciesUs.size());
        assertEquals("serving_default_keras_tensor:0", r.inputs.get(0).name);
        assertNull(r.error);
        assertSameJson(golden, r.toJson());
    }

    @Test
    public void errorResultRoundTrips() throws Exception {
        String golden = Golden.read("results/error.json");
        ErrorResult e = ErrorResult.fromJson(golden);
        assertEquals(Json.SCHEMA_VERSION, e.schemaVersion);
        assertTrue(e.error.startsWith("ValueError: "));
        assertSameJson(golden, e.toJson());
    }

    @Test
    public void androidReadingsAddOneKeyAndChangeNoOther() throws Exception {
        String golden = Golden.read("results/ok.json");
        AndroidReadings a = new AndroidReadings();
        a.delegateRequested = "gpu";
        a.delegateApplied = "gpu";
        a.nodesByDelegate.put("gpu", 3);
        JsonObject o = JsonParser.parseString(RunnerResult.fromJson(golden).toJsonWith("android", a)).getAsJsonObject();
        JsonElement android = o.remove("android");
        assertEquals("gpu", android.getAsJsonObject().get("delegate_applied").getAsString());
        assertTrue(android.getAsJsonObject().get("thermal_headroom_before").isJsonNull());
        assertEquals(JsonParser.parseString(golden), o);
    }

    @Test
    public void aResultTheAppMeasuresHasTheGoldenKeysAndKinds() throws Exception {
        JsonObject golden = JsonParser.parseString(Golden.read("results/ok.json")).getAsJsonObject();
        RunnerResult r = new RunnerResult();
        r.runtime = "litert-android";
        r.runtimeVersion = "1.4.0";
        r.machine = "arm64-v8a";
        r.modelPath = "/sdcard/m.tflite";
        r.threads = 2;
        r.delegate = "gpu";
        r.initUs = 1234.5;
        r.opsTotal = 3;
        r.opsDelegated = 3;
        r.inputs.add(new InputSpec("x", java.util.Arrays.asList(1, 16, 16, 3), "float32"));
        r.peakRssMb = 88.5;
        r.peakRssDeltaMb = 10.25;
        java.util.Map<String, Double> zones = new java.util.LinkedHashMap<>();
        zones.put("battery", 31.5);
        r.temperatures.add(new TempSample(0.0, "before", zones));
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {1000.0});
        TimedLoop.Settings s = new TimedLoop.Settings();
        s.minRuns = 5;
        s.maxS = 1.0;
        s.sampleIntervalS = 0.5;
        r.apply(TimedLoop.run(clock, s, clock, null));
        JsonObject ours = JsonParser.parseString(r.toJson()).getAsJsonObject();
        assertEquals(golden.keySet(), ours.keySet());
        for (String k : golden.keySet()) {
            if (!golden.get(k).isJsonNull() && !ours.get(k).isJsonNull()) {
                assertEquals(k, kind(golden.get(k)), kind(ours.get(k)));
            }
        }
        assertEquals(2, ours.getAsJsonArray("timed_window_unix_s").size());
        assertEquals(5, ours.getAsJsonArray("latencies_us").size());
        assertEquals("[0.0,\"before\",{\"battery\":31.5}]", ours.getAsJsonArray("temperatures").get(0).toString());
    }

    @Test
    public void anExceptionBecomesTheRunnersErrorShape() {
        ErrorResult e = ErrorResult.of(new IllegalStateException("Could not open 'x.tflite'"));
        assertEquals("IllegalStateException: Could not open 'x.tflite'", e.error);
        assertEquals(kinds(JsonParser.parseString("{\"schema_version\":2,\"error\":\"\",\"traceback\":\"\"}")
                .getAsJsonObject()), kinds(JsonParser.parseString(e.toJson()).getAsJsonObject()));
    }
}
