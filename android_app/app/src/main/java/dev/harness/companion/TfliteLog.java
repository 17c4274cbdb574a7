package dev.harness.companion;

import android.os.Process;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The LiteRT runtime's own log lines (tag tflite) of this process since a moment: the record of which
 * delegate took which nodes (an app may read its own process's logcat without any permission).
 */
final class TfliteLog {
    private TfliteLog() {}

    static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    static List<String> since(double epochS) {
        List<String> out = new ArrayList<>();
        String[] cmd = {"logcat", "-d", "-v", "brief", "--pid=" + Process.myPid(),
                "-T", String.format(Locale.ROOT, "%.3f", epochS), "tflite:V", "*:S"};
        try {
            java.lang.Process p = Runtime.getRuntime().exec(cmd);
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null && out.size() < 500) {
                    if (!line.startsWith("---------")) {
                        out.add(line);
                    }
                }
            }
            p.waitFor();
        } catch (IOException e) {
            out.add("(logcat unreadable: " + e.getMessage() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }
}
