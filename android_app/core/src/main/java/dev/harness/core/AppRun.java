package dev.harness.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What one job in the app measured, put together into the result file: the platform code (LiteRtJob, the
 * activity) fills these plain fields, and the naming and arithmetic live here where JUnit covers them.
 */
public final class AppRun {
    public Job job;
    public String runtimeVersion;
    public String machine;
    public double initUs;
    public List<InputSpec> inputs = new ArrayList<>();
    public TimedLoop.Outcome loop;
    public List<TempSample> temperatures = new ArrayList<>();
    /** The runtime refused the requested delegate (the job then ran on CPU kernels); its exception. */
    public String delegateError;
    /** /proc/self/status figures, kB; null where unreadable. peakReset: clear_refs reset VmHWM before the job. */
    public Long vmHwmKb;
    public Long vmRssEndKb;
    public Long vmRssBaseKb;
    public boolean peakReset;
    /** Whether each latency is the runtime's own Invoke figure (see TimedLoop.TimedInvoke). */
    public boolean nativeTimer;
    public AndroidReadings readings = new AndroidReadings();
    /** Sustained mode's windows (SustainedLoop), or null: their keys are then left out of the result. */
    public SustainedLoop.Windows sustained;

    /**
     * The delegate that ran, never only the one asked for: "none" when it was refused, when the runtime's own
     * log shows it took no node, or for the plain CPU kernels; the requested one when the log does not say.
     */
    public static String delegateRan(String requested, String error, DelegateLog.Outcome log) {
        if (error != null || "none".equals(requested) || "cpu".equals(requested)) {
            return "none";
        }
        if (log.nodesTotal != null && log.replacedBy(requested) == 0) {
            return "none";
        }
        if (!log.failed.isEmpty() && log.failed.contains(requested) && log.replacedBy(requested) == 0) {
            return "none";
        }
        return requested;
    }

    /** The result JSON: the runner's keys, the app's readings under "android". */
    public String resultJson() {
        DelegateLog.Outcome log = DelegateLog.parse(readings.tfliteLog);
        String ran = delegateRan(job.delegate, delegateError, log);
        readings.delegateRequested = job.delegate;
        readings.delegateApplied = ran;
        readings.delegateError = delegateError;
        readings.nodesByDelegate = log.nodesByDelegate;
        readings.latencyTimer = nativeTimer ? "native_invoke" : "java_run_call";

        RunnerResult r = new RunnerResult();
        r.runtime = "litert-android";
        r.runtimeVersion = runtimeVersion;
        r.python = null;
        r.machine = machine;
        r.modelPath = job.modelPath;
        r.threads = job.threads;
        r.delegateRequested = job.delegate;
        r.delegate = ran;
        r.initUs = initUs;
        r.inputs = inputs;
        r.apply(loop);
        r.temperatures = temperatures;
        r.opsTotal = log.nodesTotal;
        r.opsDelegated = log.nodesTotal == null ? null : ("none".equals(ran) ? 0 : log.replacedBy(ran));
        r.opsOnCpuKernels = log.unsupportedOps;
        r.peakRssMb = vmHwmKb == null ? null : TimedLoop.round(vmHwmKb / 1024.0, 3);
        r.endRssMb = vmRssEndKb == null ? null : TimedLoop.round(vmRssEndKb / 1024.0, 3);
        r.peakRssDeltaMb = peakReset && vmHwmKb != null && vmRssBaseKb != null
                ? TimedLoop.round((vmHwmKb - vmRssBaseKb) / 1024.0, 3) : null;
        String json = r.toJsonWith("android", readings);
        return sustained == null ? json : withSustained(json, sustained);
    }

    /**
     * The runner's sustained keys (rpi/runner.py _sustained_loop: sustained_s, window_s, windows as [t_s, runs],
     * timed_start_s, interrupted) plus window_thermal_status, PowerManager's status at each window end. Added
     * only in sustained mode, so the golden result and schema_version stay as they are.
     */
    static String withSustained(String json, SustainedLoop.Windows w) {
        JsonObject obj = JsonParser.parseString(json).getAsJsonObject();
        obj.addProperty("sustained_s", w.sustainedS);
        obj.addProperty("window_s", w.windowS);
        JsonArray windows = new JsonArray();
        for (double[] end : w.windows) {
            JsonArray one = new JsonArray();
            one.add(end[0]);
            one.add((long) end[1]);
            windows.add(one);
        }
        obj.add("windows", windows);
        obj.addProperty("timed_start_s", w.timedStartS);
        obj.addProperty("interrupted", w.interrupted);
        JsonArray status = new JsonArray();
        for (Integer s : w.windowThermalStatus) {
            status.add(s);
        }
        obj.add("window_thermal_status", status);
        return Json.GSON.toJson(obj);
    }

    /** Through a temporary file and a rename, folders created, so the host never pulls half a file. */
    public static void writeAtomically(File target, String json) throws IOException {
        File dir = target.getAbsoluteFile().getParentFile();
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
