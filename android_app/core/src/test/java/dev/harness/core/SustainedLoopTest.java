package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/** The JVM sustained loop cuts contracts/timed_loop/sustained.json's windows at the runner's invokes. */
public class SustainedLoopTest {
    private static TimedLoop.TimedInvoke timed(Runnable r) {
        return () -> {
            r.run();
            return -1L;
        };
    }

    @Test
    public void everyGoldenSustainedCaseGivesTheRunnersWindows() throws Exception {
        JsonArray cases = JsonParser.parseString(Golden.read("timed_loop/sustained.json")).getAsJsonArray();
        assertTrue("sustained.json holds cases", cases.size() >= 3);
        for (JsonElement el : cases) {
            JsonObject c = el.getAsJsonObject();
            String name = c.get("name").getAsString();
            JsonObject j = c.getAsJsonObject("job");
            List<Double> costs = new ArrayList<>();
            c.getAsJsonArray("invoke_cost_us").forEach(x -> costs.add(x.getAsDouble()));
            TimedLoopTest.FakeClock clock =
                    new TimedLoopTest.FakeClock(costs.stream().mapToDouble(Double::doubleValue).toArray());
            int[] samples = {0};
            SustainedLoop.Result r = SustainedLoop.run(timed(clock), j.get("sustained_s").getAsDouble(),
                    j.get("window_s").getAsDouble(), j.get("sample_interval_s").getAsDouble(), clock,
                    phase -> samples[0]++, () -> 0, () -> false);
            JsonObject e = c.getAsJsonObject("expected");
            JsonArray ws = e.getAsJsonArray("windows");
            assertEquals(name + " windows", ws.size(), r.sustained.windows.size());
            for (int i = 0; i < ws.size(); i++) {
                JsonArray w = ws.get(i).getAsJsonArray();
                assertEquals(name + " window t", w.get(0).getAsDouble(), r.sustained.windows.get(i)[0], 0.0);
                assertEquals(name + " window runs", w.get(1).getAsDouble(), r.sustained.windows.get(i)[1], 0.0);
            }
            assertEquals(name + " window_s", e.get("window_s").getAsDouble(), r.sustained.windowS, 0.0);
            assertEquals(name + " timed_start_s", e.get("timed_start_s").getAsDouble(), r.sustained.timedStartS, 0.0);
            assertEquals(name + " runs", e.get("runs").getAsInt(), r.loop.latenciesUs.size());
            assertEquals(name + " duration_s", e.get("duration_s").getAsDouble(), r.loop.durationS, 0.0);
            assertEquals(name + " first", e.get("first_inference_us").getAsDouble(), r.loop.firstInferenceUs, 0.0);
            assertEquals(name + " samples_taken", e.get("samples_taken").getAsInt(), samples[0]);
            assertEquals(name + " total_invokes", e.get("total_invokes").getAsInt(), clock.invokes);
            assertEquals(name + " a status per window", ws.size(), r.sustained.windowThermalStatus.size());
            assertFalse(name, r.sustained.interrupted);
        }
    }

    @Test
    public void aStopRequestEndsAtTheNextWindowAndKeepsWhatRan() {
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {10_000.0});
        int[] asked = {0};
        SustainedLoop.Result r = SustainedLoop.run(timed(clock), 60.0, 0.5, 0.5, clock, null, null,
                () -> ++asked[0] >= 3);
        assertTrue(r.sustained.interrupted);
        assertEquals(3, r.sustained.windows.size());
        assertEquals(150, r.loop.latenciesUs.size());
        assertEquals(150.0, r.sustained.windows.get(2)[1], 0.0);
        assertEquals(1.5, r.loop.durationS, 1e-9);
        assertTrue(r.sustained.windowThermalStatus.isEmpty());
        assertEquals(30.0, SustainedLoop.windowS(600, 0), 0.0);
        assertEquals(0.5, SustainedLoop.windowS(4, 0), 0.0);
    }

    @Test
    public void aStopBetweenWindowsClosesThePartRunAsTheLastWindow() {
        TimedLoopTest.FakeClock clock = new TimedLoopTest.FakeClock(new double[] {10_000.0});
        int[] asked = {0};
        SustainedLoop.Result r = SustainedLoop.run(timed(clock), 600.0, 30.0, 0.5, clock, null, () -> 1,
                () -> ++asked[0] >= 4);
        assertTrue(r.sustained.interrupted);
        assertEquals(1, r.sustained.windows.size());  // asked every 0.5 s: stopped at 2 s, not at 30 s
        assertEquals(2.0, r.sustained.windows.get(0)[0], 0.0);
        assertEquals(200.0, r.sustained.windows.get(0)[1], 0.0);
        assertEquals(200, r.loop.latenciesUs.size());
        assertEquals(1, r.sustained.windowThermalStatus.size());
    }
}
