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
    public void anExceptionBecomesTheRunnersErrorShape() {
        ErrorResult e = ErrorResult.of(new IllegalStateException("Could not open 'x.tflite'"));
        assertEquals("IllegalStateException: Could not open 'x.tflite'", e.error);
        assertEquals(kinds(JsonParser.parseString("{\"schema_version\":2,\"error\":\"\",\"traceback\":\"\"}")
                .getAsJsonObject()), kinds(JsonParser.parseString(e.toJson()).getAsJsonObject()));
    }
}
