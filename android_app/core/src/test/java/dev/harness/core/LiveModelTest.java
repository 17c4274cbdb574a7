package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.List;
import org.junit.Test;

/** The live model gives the page's cards and progress for the recorded stream. */
public class LiveModelTest {
    @Test
    public void theRecordedRunBecomesOneCard() throws Exception {
        LiveModel m = new LiveModel();
        List<SseEvent> events = new SseParser().feedAll(Golden.read("events/run.sse"));
        String load = null;
        for (SseEvent ev : events) {
            String r = m.apply(ev);
            if (r != null) {
                load = r;
            }
            if (ev.type.equals("job_started")) {
                assertTrue(m.current().startsWith("measuring local · tiny.tflite · fp32"));
            }
        }
        assertEquals("the first result of an unknown run asks the screen to load it", "20261201-140929-a4ec2f", load);
        assertEquals("20261201-140929-a4ec2f", m.runId());
        assertEquals("finished", m.status());
        assertEquals("1 done", m.progressText());
        assertEquals(1.0, m.progressFraction(), 0.0);
        List<LiveModel.Card> cards = m.cards();
        assertEquals(1, cards.size());
        LiveModel.Card c = cards.get(0);
        assertEquals("tiny.tflite · fp32", c.title);
        assertEquals("3.3 µs p50", c.headline); // p50 3.325 µs: under 100 µs the page shows µs
        assertTrue(c.details.contains("p90 0.033 ms"));
        assertTrue(c.details.contains("5141 runs"));
        assertTrue(c.details.contains("2.3 kB"));
        assertFalse(c.valid);
        assertEquals("⚠ cv", c.flags);
    }

    @Test
    public void aSnapshotThenEventsKeepsOneCardPerKey() {
        LiveModel m = new LiveModel();
        m.loadRun("{\"run\": {\"run_id\": \"r1\", \"status\": \"running\", \"total\": 2}, \"results\": ["
                + "{\"run_id\": \"r1\", \"device\": \"p\", \"model\": \"a.tflite\", \"model_label\": \"a\", "
                + "\"variant\": \"fp32\", \"status\": \"error\", \"error\": \"boom\"}]}");
        assertEquals("1 / 2 done · 1 errors", m.progressText());
        String again = m.apply(new SseEvent("9", "job_finished", "{\"measurement\": {\"run_id\": \"r1\", "
                + "\"device\": \"p\", \"model\": \"a.tflite\", \"model_label\": \"a\", \"variant\": \"fp32\", "
                + "\"status\": \"ok\", \"p50_us\": 12345.0, \"p90_us\": null, \"p99_us\": 13000.0, \"valid\": true}}"));
        assertNull(again);
        assertEquals("1 / 2 done", m.progressText());
        assertEquals("12.3 ms p50", m.cards().get(0).headline);
        assertTrue(m.cards().get(0).details.startsWith("p90 - ms · p99 13.0 ms"));
        assertEquals(0.5, m.progressFraction(), 0.0);
    }
}
