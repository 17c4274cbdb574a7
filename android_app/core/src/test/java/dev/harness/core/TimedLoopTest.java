package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/** The JVM loop gives every count and sample of contracts/timed_loop/cases.json under the runner's fake clock. */
public class TimedLoopTest {
    /** contracts/timed_loop_cases.py FakeTime: time passes only inside invoke(), by that call's cost. */
    static final class FakeClock implements Clock, Runnable {
        long ns = 1_000_000_000_000L;
        final double[] costsUs;
        int invokes;

        FakeClock(double[] costsUs) {
            this.costsUs = costsUs;
        }

        @Override
        public void run() {
            ns += Math.round(costsUs[invokes % costsUs.length] * 1000);
            invokes++;
        }

        @Override
        public long nanoTime() {
            return ns;
        }

        @Override
        public double unixS() {
            return 1_700_000_000.0 + ns / 1e9;
        }
    }

    private static List<Double> doubles(JsonArray a) {
        List<Double> out = new ArrayList<>();
        a.forEach(e -> out.add(e.getAsDouble()));
        return out;
    }

    @Test
    public void everyGoldenCaseReproducesExactly() throws Exception {
        JsonArray cases = JsonParser.parseString(Golden.read("timed_loop/cases.json")).getAsJsonArray();
        assertTrue("cases.json holds cases", cases.size() >= 6);
        for (JsonElement el : cases) {
            JsonObject c = el.getAsJsonObject();
            String name = c.get("name").getAsString();
            JsonObject j = c.getAsJsonObject("job");
            TimedLoop.Settings s = new TimedLoop.Settings();
            s.warmupRuns = j.get("warmup_runs").getAsInt();
            s.warmupS = j.get("warmup_s").getAsDouble();
            s.minRuns = j.get("min_runs").getAsInt();
            s.minS = j.get("min_s").getAsDouble();
            s.maxS = j.get("max_s").getAsDouble();
            s.maxRuns = j.get("max_runs").getAsInt();
            s.sampleIntervalS = j.get("sample_interval_s").getAsDouble();
            List<Double> costs = doubles(c.getAsJsonArray("invoke_cost_us"));
            double[] arr = costs.stream().mapToDouble(Double::doubleValue).toArray();
            FakeClock clock = new FakeClock(arr);
            int[] samples = {0};
            TimedLoop.Outcome out = TimedLoop.run(clock, s, clock, phase -> {
                assertEquals("run", phase);
                samples[0]++;
            });
            JsonObject e = c.getAsJsonObject("expected");
            assertEquals(name + " first_inference_us", e.get("first_inference_us").getAsDouble(), out.firstInferenceUs, 0.0);
            assertEquals(name + " warmup_runs_done", e.get("warmup_runs_done").getAsInt(), out.warmupRunsDone);
            assertEquals(name + " runs", e.get("runs").getAsInt(), out.latenciesUs.size());
            assertEquals(name + " latencies_us", doubles(e.getAsJsonArray("latencies_us")), out.latenciesUs);
            assertEquals(name + " duration_s", e.get("duration_s").getAsDouble(), out.durationS, 0.0);
            assertEquals(name + " samples_taken", e.get("samples_taken").getAsInt(), samples[0]);
            assertEquals(name + " total_invokes", e.get("total_invokes").getAsInt(), clock.invokes);
        }
    }

    @Test
    public void roundingIsPythons() {
        assertEquals(0.02145, TimedLoop.round(0.021449999999999997, 6), 0.0);
        assertEquals(2.67, TimedLoop.round(2.675, 2), 0.0); // 2.675 is 2.67499999... in binary: Python gives 2.67
        assertEquals(0.125, TimedLoop.round(0.125, 3), 0.0);
        assertEquals(0.12, TimedLoop.round(0.125, 2), 0.0); // exact tie: half-even, Python's round(0.125, 2)
    }

    @Test
    public void theSystemClockTimesRealWork() {
        TimedLoop.Settings s = new TimedLoop.Settings();
        s.warmupRuns = 1;
        s.warmupS = 0.0;
        s.minRuns = 5;
        s.minS = 0.02;
        s.maxS = 5.0;
        s.sampleIntervalS = 0.5;
        long[] sink = {0};
        Runnable work = () -> {
            long end = System.nanoTime() + 2_000_000; // about 2 ms of spinning
            while (System.nanoTime() < end) {
                sink[0]++;
            }
        };
        TimedLoop.Outcome out = TimedLoop.run(work, s, Clock.SYSTEM, null);
        assertTrue(out.latenciesUs.size() >= 5);
        assertTrue(out.durationS >= 0.02);
        for (double us : out.latenciesUs) {
            assertTrue("each sample is about 2 ms: " + us, us >= 1900.0 && us < 1_000_000.0);
        }
        assertTrue(out.windowEndUnixS - out.windowStartUnixS >= 0.02);
        assertTrue(out.windowStartUnixS > 1.6e9);
    }
}
