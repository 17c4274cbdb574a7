package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.Assume;
import org.junit.Test;

/**
 * Against a real `harness serve` (tests/test_android_core.py starts one, publishes the recorded events and
 * passes -Dharness.live.url and -Dharness.live.events=N): the client's Last-Event-ID resume gets the
 * server's replay, and the live model builds the same progress as the page.
 */
public class LiveServerTest {
    private static String base() {
        String url = System.getProperty("harness.live.url");
        Assume.assumeTrue("needs -Dharness.live.url (tests/test_android_core.py passes it)", url != null);
        return url.replaceAll("/+$", "");
    }

    private static int published() {
        return Integer.parseInt(System.getProperty("harness.live.events", "0"));
    }

    @Test
    public void resumeAfterADropGetsEveryEventOnce() throws Exception {
        String base = base();
        int n = published();
        assertTrue("the server holds several events", n >= 3);
        List<SseEvent> got = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(1);
        SseClient[] c = new SseClient[1];
        c[0] = new SseClient(new URL(base + "/api/events"), null, ev -> {
            got.add(ev);
            if (got.size() == 2) {
                c[0].dropConnection(); // the network goes: the next connection must resume at id 2
            }
            if (got.size() == n) {
                c[0].stop();
                done.countDown();
            }
        }).resumeFrom("0");
        c[0].setDefaultRetryMs(100);
        Thread t = new Thread(c[0]::run);
        t.start();
        assertTrue("every published event arrives", done.await(30, TimeUnit.SECONDS));
        t.join(5000);
        List<String> ids = new ArrayList<>();
        got.forEach(e -> ids.add(e.id));
        List<String> expected = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            expected.add(String.valueOf(i));
        }
        assertEquals(expected, ids);
        assertTrue("a second connection was made", c[0].connects() >= 2);
        assertEquals("run_finished", got.get(n - 1).type);
    }

    @Test
    public void theModelFollowsTheServersStream() throws Exception {
        String base = base();
        int n = published();
        LiveModel model = new LiveModel();
        List<SseEvent> got = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(1);
        SseClient[] c = new SseClient[1];
        c[0] = new SseClient(new URL(base + "/api/events"), null, ev -> {
            got.add(ev);
            model.apply(ev);
            if (got.size() == n) {
                c[0].stop();
                done.countDown();
            }
        }).resumeFrom("0");
        Thread t = new Thread(c[0]::run);
        t.start();
        assertTrue(done.await(30, TimeUnit.SECONDS));
        t.join(5000);
        assertEquals("finished", model.status());
        assertEquals(1, model.cards().size());
        assertEquals("idle", model.current());
        try (InputStream in = new URL(base + "/api/runs").openStream()) {
            String runs = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(runs.startsWith("["));
        }
    }
}
