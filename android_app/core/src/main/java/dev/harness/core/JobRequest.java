package dev.harness.core;

import java.io.File;
import java.io.IOException;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * One `am start` of the job activity, read before anything runs: where the result goes first, then the job.
 * A bad or missing extra still gets a result (the runner's error shape naming the extra) wherever the host
 * will look for it, so the host reads the reason instead of waiting out its timeout.
 */
public final class JobRequest {
    private static final Pattern TOKEN = Pattern.compile("[0-9A-Za-z_-]{1,64}");

    /** Null when the extras were bad (see error). */
    public final Job job;
    /** The held-out inputs to predict after the timed loop, or null. */
    public final EvalInputs eval;
    /** Where the result goes; null only when neither result_path nor run_token says where. */
    public final File resultFile;
    public final String runToken;
    /** Sustained mode: {sustained_s, window_s} (SustainedLoop), or null for the plain timed loop. */
    public final double[] sustained;
    /** Non-null when the job could not be read: write it to resultFile and do not run. */
    public final ErrorResult error;

    private JobRequest(Job job, EvalInputs eval, File resultFile, String runToken, ErrorResult error,
                       double[] sustained) {
        this.job = job;
        this.eval = eval;
        this.resultFile = resultFile;
        this.runToken = runToken;
        this.error = error;
        this.sustained = sustained;
    }

    /** The evaluation outputs' file: beside the result, NAME.outputs.f32 for NAME.json. */
    public File outputsFile() {
        String name = resultFile.getName().replaceFirst("\\.json$", "");
        return new File(resultFile.getParentFile(), name + ".outputs.f32");
    }

    /**
     * The stop request of a sustained job: NAME.stop beside NAME.json, in the app's own external files
     * directory, where the host's adb already pushes the models (Ctrl-C on the host pushes this file; the
     * loop asks for it at every sampling point and ends with what it measured). Only the app and adb's shell
     * can write there on Android 11+, unlike a broadcast, which any app could send to an exported receiver.
     */
    public File stopFile() {
        String name = resultFile.getName().replaceFirst("\\.json$", "");
        return new File(resultFile.getParentFile(), name + ".stop");
    }

    /** Whether the host asked the sustained loop to stop (stopFile exists). */
    public boolean stopRequested() {
        return resultFile != null && stopFile().exists();
    }

    /**
     * @param ownDir the app's external files directory (Context.getExternalFilesDir(null)): an exported
     *               activity writes nowhere else.
     */
    public static JobRequest parse(Map<String, ?> extras, File ownDir) {
        Object tokenExtra = extras.get("run_token");
        String token = tokenExtra instanceof String && TOKEN.matcher((String) tokenExtra).matches()
                ? (String) tokenExtra : null;
        File result;
        String resultProblem = null;
        try {
            result = resultFile(extras.get("result_path"), ownDir);
        } catch (IllegalArgumentException | IOException e) {
            resultProblem = e.getMessage();
            // The host's own convention (devices/android_target.py: app_dir/result-TOKEN.json), so it still
            // finds the reason.
            result = token == null || ownDir == null ? null
                    : new File(new File(ownDir, "harness"), "result-" + token + ".json");
        }
        if (resultProblem != null) {
            return new JobRequest(null, null, result, token, new ErrorResult("IllegalArgumentException: "
                    + resultProblem, ""), null);
        }
        try {
            Job job = JobExtras.toJob(extras);
            EvalInputs eval = JobExtras.evalInputs(extras);
            return new JobRequest(job, eval, result, token, null, JobExtras.sustained(extras));
        } catch (IllegalArgumentException e) {
            return new JobRequest(null, null, result, token, new ErrorResult("IllegalArgumentException: "
                    + e.getMessage(), ""), null);
        }
    }

    private static File resultFile(Object path, File ownDir) throws IOException {
        if (!(path instanceof String) || ((String) path).isEmpty()) {
            throw new IllegalArgumentException("intent has no result_path extra (--es result_path PATH)");
        }
        if (ownDir == null) {
            throw new IllegalArgumentException("the app has no external files directory (storage not mounted)");
        }
        File result = new File((String) path).getCanonicalFile();
        String own = ownDir.getCanonicalPath() + File.separator;
        if (!result.getPath().startsWith(own) || !result.getName().endsWith(".json")) {
            throw new IllegalArgumentException("result_path must be a .json file under " + own);
        }
        return result;
    }
}
