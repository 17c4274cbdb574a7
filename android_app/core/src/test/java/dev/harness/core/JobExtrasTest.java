package dev.harness.core;

import static org.junit.Assert.assertEquals;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** The host's am start extras become the contract's runner job, with the types Android delivers them in. */
public class JobExtrasTest {
    @Test
    public void theHostsExtrasAreTheContractsJob() throws Exception {
        JsonObject c = JsonParser.parseString(Golden.read("android/am_start.json")).getAsJsonObject();
        JsonObject extras = c.getAsJsonObject("extras");
        JsonObject types = c.getAsJsonObject("extra_types");
        Map<String, Object> bundle = new LinkedHashMap<>(); // what Intent.getExtras() holds on the phone
        for (Map.Entry<String, JsonElement> e : extras.entrySet()) {
            String type = types.get(e.getKey()).getAsString();
            Object v;
            switch (type) {
                case "--ei":
                    v = e.getValue().getAsInt();
                    break;
                case "--el":
                    v = e.getValue().getAsLong();
                    break;
                case "--ef":
                    v = e.getValue().getAsFloat();
                    break;
                default:
                    v = e.getValue().getAsString();
            }
            bundle.put(e.getKey(), v);
        }
        Job job = JobExtras.toJob(bundle);
        assertEquals(c.get("job"), JsonParser.parseString(job.toJson()));
        assertEquals(0.1, job.minS, 0.0); // exactly the host's 0.1, not the float's 0.10000000149
    }

    @Test
    public void missingExtrasKeepTheRunnersDefaults() {
        Map<String, Object> bundle = new LinkedHashMap<>();
        bundle.put("model", "/m.tflite");
        Job job = JobExtras.toJob(bundle);
        Job defaults = Job.fromJson("{\"model_path\": \"/m.tflite\", \"thermal_glob\": \"\"}");
        assertEquals(JsonParser.parseString(defaults.toJson()), JsonParser.parseString(job.toJson()));
    }

    @Test(expected = IllegalArgumentException.class)
    public void noModelNoJob() {
        JobExtras.toJob(new LinkedHashMap<String, Object>());
    }
}
