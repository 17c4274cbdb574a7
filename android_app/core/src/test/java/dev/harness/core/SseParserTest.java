package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/** The recorded stream (contracts/events/run.sse) parses to the same events, ids and retry as a browser's. */
public class SseParserTest {
    @Test
    public void theRecordedStream() throws Exception {
        String text = Golden.read("events/run.sse");
        SseParser p = new SseParser();
        List<SseEvent> events = p.feedAll(text);
        // The golden file's own id/event/data records, read independently of the parser.
        List<String[]> expected = new ArrayList<>();
        for (String block : text.split("\n\n")) {
            if (block.startsWith("id:")) {
                String[] lines = block.split("\n");
                expected.add(new String[] {lines[0].substring(4), lines[1].substring(7), lines[2].substring(6)});
            }
        }
        assertEquals(expected.size(), events.size());
        for (int i = 0; i < events.size(); i++) {
            assertEquals(expected.get(i)[0], events.get(i).id);
            assertEquals(expected.get(i)[1], events.get(i).type);
            assertEquals(JsonParser.parseString(expected.get(i)[2]), JsonParser.parseString(events.get(i).data));
        }
        assertEquals("run_finished", events.get(events.size() - 1).type);
        assertEquals(2000, p.retryMs());
        assertEquals(expected.get(expected.size() - 1)[0], p.lastEventId());
    }

    @Test
    public void theStandardsCorners() {
        SseParser p = new SseParser();
        List<SseEvent> ev = p.feedAll(": comment\r\ndata:no space\r\ndata:  two\r\n\r\nevent: x\nid: 7\n\n"
                + "id: 8\0bad\ndata: y\n\nretry: 12a\ndata\n\n");
        assertEquals(3, ev.size());
        assertEquals("message", ev.get(0).type);
        assertEquals("no space\n two", ev.get(0).data); // only one leading space is dropped
        assertNull(ev.get(0).id);
        assertEquals("7", ev.get(1).id); // an id with NUL is ignored; an event with no data is not dispatched
        assertEquals("message", ev.get(1).type); // the type of an undispatched event is reset
        assertEquals("", ev.get(2).data);
        assertEquals(-1, p.retryMs());
    }

    @Test
    public void aHalfReceivedEventIsDroppedOnReconnect() {
        SseParser p = new SseParser();
        p.feedAll("id: 4\nevent: a\ndata: 1\n\nid: 5\nevent: b\ndata: 2");
        p.resetPending();
        List<SseEvent> ev = p.feedAll("\n");
        assertEquals(0, ev.size());
        assertEquals("4", p.lastEventId()); // event 5 never completed: resume asks from 4
    }
}
