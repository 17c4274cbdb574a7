package dev.harness.companion;

import android.content.Context;
import android.content.Intent;
import dev.harness.core.Job;
import java.io.File;
import java.io.IOException;

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
        String model = intent.getStringExtra("model");
        String resultPath = intent.getStringExtra("result_path");
        if (model == null || model.isEmpty()) {
            throw new IllegalArgumentException("intent has no model extra");
        }
        if (resultPath == null || resultPath.isEmpty()) {
            throw new IllegalArgumentException("intent has no result_path extra");
        }
        Job job = new Job();
        job.modelPath = model;
        job.threads = intent.getIntExtra("threads", job.threads);
        String delegate = intent.getStringExtra("delegate");
        job.delegate = delegate == null ? job.delegate : delegate;
        job.warmupRuns = intent.getIntExtra("warmup_runs", job.warmupRuns);
        job.warmupS = intent.getFloatExtra("warmup_secs", (float) job.warmupS);
        job.minRuns = intent.getIntExtra("num_runs", job.minRuns);
        job.minS = intent.getFloatExtra("min_secs", (float) job.minS);
        job.maxS = intent.getFloatExtra("max_secs", (float) job.maxS);
        job.maxRuns = intent.getIntExtra("max_runs", job.maxRuns);
        job.seed = intent.getLongExtra("seed", job.seed);
        job.thermalGlob = ""; // an app cannot read /sys/class/thermal; PowerManager gives the thermal state
        // An exported activity: results go only under the app's own files directory.
        File own = context.getExternalFilesDir(null);
        File result = new File(resultPath).getCanonicalFile();
        if (own == null || !result.getPath().startsWith(own.getCanonicalPath() + File.separator)) {
            throw new IllegalArgumentException("result_path must be under " + own);
        }
        return new JobIntent(job, result, intent.getStringExtra("run_token"));
    }
}
