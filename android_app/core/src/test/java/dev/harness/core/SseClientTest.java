package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/**
 * The client against a JDK HTTP server that drops the stream mid-way, as a phone losing Wi-Fi would: it
 * reconnects after the server's retry with Last-Event-ID and gets each event exactly once.
 */
public class SseClientTest {
    @Test
    public void reconnectsWithLastEventIdAfterADrop() throws Exception {
        List<String> seenHeaders = Collections.synchronizedList(new ArrayList<>());
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/api/events", ex -> {
            String last = ex.getRequestHeaders().getFirst("Last-Event-ID");
            seenHeaders.add(String.valueOf(last));
            int from = last == null ? 1 : Integer.parseInt(last) + 1;
            ex.getResponseHeaders().add("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                StringBuilder sb = new StringBuilder("retry: 50\n: connected\n\n");
                // The first connection ends after two events and half of a third: a drop.
                int to = last == null ? 2 : 5;
                for (int i = from; i <= to; i++) {
                    sb.append("id: ").append(i).append("\nevent: e\ndata: {\"n\": ").append(i).append("}\n\n");
                }
                if (last == null) {
                    sb.append("id: 3\nevent: e\ndata: {\"n\": 3");
                }
                out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
            }
        });
        server.start();
        try {
            URL url = new URL("http://127.0.0.1:" + server.getAddress().getPort() + "/api/events");
            List<String> ids = Collections.synchronizedList(new ArrayList<>());
            CountDownLatch done = new CountDownLatch(1);
            SseClient[] holder = new SseClient[1];
            holder[0] = new SseClient(url, null, ev -> {
                ids.add(ev.id);
                if ("5".equals(ev.id)) {
                    holder[0].stop();
                    done.countDown();
                }
            });
            Thread t = new Thread(holder[0]::run);
            t.start();
            assertTrue("all five events arrive", done.await(20, TimeUnit.SECONDS));
            t.join(5000);
            assertEquals(List.of("1", "2", "3", "4", "5"), ids);
            assertEquals(List.of("null", "2"), seenHeaders.subList(0, 2));
            assertEquals(2, holder[0].connects());
        } finally {
            server.stop(0);
        }
    }
}
