package dev.harness.companion;

import android.app.Activity;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import android.widget.TextView;
import dev.harness.core.AppRun;
import dev.harness.core.ErrorResult;
import dev.harness.core.JobRequest;
import java.io.File;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The job screen the host starts (`am start -W -S -n dev.harness.companion/.BenchmarkActivity ...`): it
 * wakes the screen and measures in the foreground, as an app user's process would run, writes the result
 * JSON (dev.harness.core.AppRun.writeAtomically) and finishes. Reading the extras, and the error result for
 * a bad or missing one, is dev.harness.core.JobRequest, tested with JUnit; only the platform calls are here.
 */
public final class BenchmarkActivity extends Activity {
    private TextView status;

    @Override
    protected void onCreate(Bundle saved) {
        super.onCreate(saved);
        // A phone whose screen is off would run the job in the background cpuset (little cores): wake it.
        // The manifest's turnScreenOn / showWhenLocked do this on API 27+; the window flags on API 26.
        if (Build.VERSION.SDK_INT >= 27) {
            setTurnScreenOn(true);
            setShowWhenLocked(true);
        } else {
            getWindow().addFlags(WindowManager.LayoutParams.FLAG_TURN_SCREEN_ON
                    | WindowManager.LayoutParams.FLAG_SHOW_WHEN_LOCKED);
        }
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        status = new TextView(this);
        status.setPadding(32, 64, 32, 32);
        status.setTextSize(18);
        status.setText("harness: preparing the job…");
        setContentView(status);
        new Thread(this::runJob, "harness-job").start();
    }

    private void runJob() {
        Map<String, Object> extras = new HashMap<>();
        Bundle bundle = getIntent().getExtras();
        if (bundle != null) {
            for (String key : bundle.keySet()) {
                extras.put(key, bundle.get(key));
            }
        }
        JobRequest req = JobRequest.parse(extras, getExternalFilesDir(null));
        String json;
        if (req.error != null) {
            json = req.error.toJson();
        } else {
            try {
                final String model = new File(req.job.modelPath).getName();
                runOnUiThread(() -> status.setText("harness: measuring " + model + " on " + req.job.delegate));
                json = new LiteRtJob(new Probes(this)).run(req);
            } catch (Throwable t) { // any failure becomes the runner's error shape: the host makes an error row
                json = ErrorResult.of(t).toJson();
            }
        }
        if (req.resultFile == null) { // neither result_path nor run_token: nowhere the host looks
            Log.e("harness", "no result_path or run_token extra: " + json);
            runOnUiThread(() -> status.setText("harness: no result_path extra; nothing written"));
            return;
        }
        try {
            AppRun.writeAtomically(req.resultFile, json);
        } catch (IOException e) {
            final String why = e.getMessage();
            runOnUiThread(() -> status.setText("harness: cannot write the result: " + why));
            return;
        }
        runOnUiThread(this::finish);
    }
}
