package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** A bad or missing extra gets an error result where the host looks for it, naming the extra. */
public class JobRequestTest {
    @Rule public TemporaryFolder tmp = new TemporaryFolder();

    private Map<String, Object> extras(File own) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("model", "/sdcard/m.tflite");
        e.put("threads", 2);
        e.put("result_path", new File(own, "harness/result-ab12.json").getPath());
        e.put("run_token", "ab12");
        return e;
    }

    @Test
    public void aGoodRequestHasItsJobAndResultFile() throws IOException {
        File own = tmp.newFolder("files");
        Map<String, Object> e = extras(own);
        e.put("input_shapes", "{\"x\": [1, 32, 32, 3]}");
        e.put("eval_path", "/sdcard/eval/0a.f32");
        e.put("eval_shape", "1,32,32,3");
        e.put("eval_count", 8);
        JobRequest r = JobRequest.parse(e, own);
        assertNull(r.error);
        assertEquals(2, r.job.threads);
        assertEquals(Arrays.asList(1, 32, 32, 3), r.job.inputShapes.get("x"));
        assertEquals(8, r.eval.count);
        assertEquals(Arrays.asList(1, 32, 32, 3), r.eval.shape);
        assertEquals(new File(own.getCanonicalFile(), "harness/result-ab12.json"), r.resultFile);
        assertEquals("result-ab12.outputs.f32", r.outputsFile().getName());
    }

    @Test
    public void theContractsOptionalExtrasGiveItsJobAndEvalSet() throws IOException {
        File own = tmp.newFolder("c");
        JsonObject c = JsonParser.parseString(Golden.read("android/am_start.json")).getAsJsonObject();
        JsonObject optional = c.getAsJsonObject("optional_extras");
        JsonObject types = c.getAsJsonObject("optional_extra_types");
        Map<String, Object> e = extras(own);
        for (Map.Entry<String, JsonElement> x : optional.entrySet()) { // as Intent.getExtras() holds them
            String type = types.get(x.getKey()).getAsString();
            e.put(x.getKey(), "--ei".equals(type) ? (Object) x.getValue().getAsInt()
                    : "--ef".equals(type) ? (Object) x.getValue().getAsFloat() : x.getValue().getAsString());
        }
        JobRequest r = JobRequest.parse(e, own);
        assertNull(r.error);
        JsonObject job = c.getAsJsonObject("optional_job");
        assertEquals(job.get("input_shapes"), Json.GSON.toJsonTree(r.job.inputShapes));
        JsonObject ev = job.getAsJsonObject("eval");
        assertEquals(ev.get("path").getAsString(), r.eval.path);
        assertEquals(ev.get("shape"), Json.GSON.toJsonTree(r.eval.shape));
        assertEquals(ev.get("count").getAsInt(), r.eval.count);
        JsonObject sus = job.getAsJsonObject("sustained");
        assertEquals(sus.get("sustained_s").getAsDouble(), r.sustained[0], 0.0);
        assertEquals(sus.get("window_s").getAsDouble(), r.sustained[1], 0.0);
    }

    @Test
    public void withoutSustainedExtrasTheJobIsThePlainLoop() throws IOException {
        File own = tmp.newFolder("plain");
        assertNull(JobRequest.parse(extras(own), own).sustained);
    }

    @Test
    public void aBadSustainedExtraIsAnErrorNamingIt() throws IOException {
        File own = tmp.newFolder("bad");
        Map<String, Object> e = extras(own);
        e.put("sustained_s", 0.0f);
        assertEquals("IllegalArgumentException: extra sustained_s must be a positive number of seconds",
                JobRequest.parse(e, own).error.error);
        e.put("sustained_s", "10m"); // --es instead of --ef
        assertEquals("IllegalArgumentException: extra sustained_s must be a number (--ef), not a String",
                JobRequest.parse(e, own).error.error);
        e.put("sustained_s", 60.0f);
        e.put("window_s", -1.0f);
        assertTrue(JobRequest.parse(e, own).error.error.contains("extra window_s must be 0"));
        e.put("window_s", 2.5f);
        JobRequest r = JobRequest.parse(e, own);
        assertNull(r.error);
        assertEquals(60.0, r.sustained[0], 0.0);
        assertEquals(2.5, r.sustained[1], 0.0);
    }

    @Test
    public void theStopFileLiesBesideTheResultAndIsAskedForByItsExistence() throws IOException {
        File own = tmp.newFolder("stop");
        Map<String, Object> e = extras(own);
        e.put("sustained_s", 60.0f);
        JobRequest r = JobRequest.parse(e, own);
        assertEquals(new File(own.getCanonicalFile(), "harness/result-ab12.stop"), r.stopFile());
        assertTrue(!r.stopRequested());
        AppRun.writeAtomically(r.stopFile(), "stop\n"); // what the host's adb push leaves there
        assertTrue(r.stopRequested());
    }

    @Test
    public void anExtraOfTheWrongTypeIsAnErrorNamingIt() throws IOException {
        File own = tmp.newFolder("files");
        Map<String, Object> e = extras(own);
        e.put("threads", "two"); // --es threads two
        JobRequest r = JobRequest.parse(e, own);
        assertNull(r.job);
        assertEquals("IllegalArgumentException: extra threads must be an integer (--ei), not a String", r.error.error);
        assertNotNull(r.resultFile);
        // The activity writes it there: the host reads the reason instead of timing out.
        AppRun.writeAtomically(r.resultFile, r.error.toJson());
        ErrorResult back = ErrorResult.fromJson(new String(Files.readAllBytes(r.resultFile.toPath()), "UTF-8"));
        assertEquals(r.error.error, back.error);
    }

    @Test
    public void aMissingModelOrBadShapesAreErrors() throws IOException {
        File own = tmp.newFolder("files");
        Map<String, Object> e = extras(own);
        e.remove("model");
        assertTrue(JobRequest.parse(e, own).error.error.contains("no model extra"));
        e = extras(own);
        e.put("input_shapes", "{\"x\": 3}");
        assertTrue(JobRequest.parse(e, own).error.error.contains("input_shapes"));
        e = extras(own);
        e.put("eval_path", "/sdcard/e.f32");
        e.put("eval_shape", "1,x");
        e.put("eval_count", 2);
        assertTrue(JobRequest.parse(e, own).error.error.contains("eval_shape"));
    }

    @Test
    public void aBadResultPathStillGetsAResultWhereTheHostLooks() throws IOException {
        File own = tmp.newFolder("files");
        Map<String, Object> e = extras(own);
        e.put("result_path", "/data/local/tmp/x.json"); // outside the app's own files
        JobRequest r = JobRequest.parse(e, own);
        assertTrue(r.error.error, r.error.error.contains("result_path must be a .json file under"));
        assertEquals(new File(new File(own, "harness"), "result-ab12.json"), r.resultFile);
        e.remove("result_path");
        assertTrue(JobRequest.parse(e, own).error.error.contains("no result_path extra"));
        e.remove("run_token");
        assertNull(JobRequest.parse(e, own).resultFile); // nowhere to write: the activity logs it
        e.put("run_token", "../../x");
        assertNull(JobRequest.parse(e, own).resultFile);
    }
}
