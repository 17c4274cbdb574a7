package dev.harness.companion;

import android.app.Activity;
import android.os.Bundle;
import android.view.WindowManager;
import android.widget.TextView;
import dev.harness.core.ErrorResult;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The job screen the host starts (`am start -W -S -n dev.harness.companion/.BenchmarkActivity ...`): it
 * measures in the foreground, as an app user's process would run, writes the result JSON at result_path
 * (through a temporary file and a rename, so the host never pulls half a file) and finishes.
 */
public final class BenchmarkActivity extends Activity {
    private TextView status;

    @Override
    protected void onCreate(Bundle saved) {
        super.onCreate(saved);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        status = new TextView(this);
        status.setPadding(32, 64, 32, 32);
        status.setTextSize(18);
        status.setText("harness: preparing the job…");
        setContentView(status);
        new Thread(this::runJob, "harness-job").start();
    }

    private void runJob() {
        JobIntent ji = null;
        String json;
        try {
            ji = JobIntent.from(this, getIntent());
            final String model = new File(ji.job.modelPath).getName();
            runOnUiThread(() -> status.setText("harness: measuring " + model + " on " + getIntent().getStringExtra("delegate")));
            json = new LiteRtJob(new Probes(this)).run(ji.job, ji.runToken);
        } catch (Throwable t) { // any failure becomes the runner's error shape: the host makes an error row
            json = ErrorResult.of(t).toJson();
        }
        if (ji != null) {
            try {
                writeAtomically(ji.resultFile, json);
            } catch (IOException e) {
                final String why = e.getMessage();
                runOnUiThread(() -> status.setText("harness: cannot write the result: " + why));
                return;
            }
        }
        runOnUiThread(this::finish);
    }

    private static void writeAtomically(File target, String json) throws IOException {
        File dir = target.getParentFile();
        if (dir != null && !dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File tmp = new File(dir, "." + target.getName() + ".part");
        try (OutputStream out = new FileOutputStream(tmp)) {
            out.write(json.getBytes(StandardCharsets.UTF_8));
        }
        if (!tmp.renameTo(target)) {
            throw new IOException("cannot rename " + tmp + " to " + target);
        }
    }
}
