package dev.harness.companion;

import android.content.Context;
import android.content.Intent;
import android.os.Bundle;
import dev.harness.core.Job;
import dev.harness.core.JobExtras;
import java.io.File;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * The host's `am start` extras (devices/android_target.py _run_app) as a runner Job. Extras the host does
 * not send keep the runner's defaults (contracts/jobs/basic.json), so the loop's semantics stay the runner's.
 */
final class JobIntent {
    final Job job;
    final File resultFile;
    final String runToken;

    private JobIntent(Job job, File resultFile, String runToken) {
        this.job = job;
        this.resultFile = resultFile;
        this.runToken = runToken;
    }

    static JobIntent from(Context context, Intent intent) throws IOException {
        String resultPath = intent.getStringExtra("result_path");
        if (resultPath == null || resultPath.isEmpty()) {
            throw new IllegalArgumentException("intent has no result_path extra");
        }
        Map<String, Object> extras = new HashMap<>();
        Bundle bundle = intent.getExtras();
        if (bundle != null) {
            for (String key : bundle.keySet()) {
                extras.put(key, bundle.get(key));
            }
        }
        Job job = JobExtras.toJob(extras); // the mapping the JVM tests check against the golden contract
        // An exported activity: results go only under the app's own files directory.
        File own = context.getExternalFilesDir(null);
        File result = new File(resultPath).getCanonicalFile();
        if (own == null || !result.getPath().startsWith(own.getCanonicalPath() + File.separator)) {
            throw new IllegalArgumentException("result_path must be under " + own);
        }
        return new JobIntent(job, result, intent.getStringExtra("run_token"));
    }
}
