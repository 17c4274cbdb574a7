package dev.harness.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which delegate took which part of the graph, read from the LiteRT runtime's own log lines (logcat tag
 * `tflite`; benchmark_model prints the same lines): "Replacing N out of M node(s) with delegate (NAME) node",
 * "Created N GPU delegate kernels", and the "Following operations are not supported by ..." list, whose op
 * types stay on CPU kernels. The Java Interpreter API has no per-node query, so the log is the record.
 * The host parses the same lines (devices/probes/benchmark_model.py) from the result's "tflite_log".
 */
public final class DelegateLog {
    private static final Pattern PREFIX = Pattern.compile(
            "^(?:\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d+\\s+(?:\\d+\\s+\\d+\\s+)?)?(?:[VDIWEF][/ ]\\s*tflite\\s*(?:\\(\\s*\\d+\\))?\\s*:\\s*)?"
            + "(?:(?:INFO|WARNING|ERROR|VERBOSE): )?");
    private static final Pattern REPLACING = Pattern.compile(
            "Replacing (\\d+)(?: out of (\\d+))? node\\(s\\) with delegate \\((\\w+)\\) node, yielding (\\d+) partitions");
    private static final Pattern GPU_KERNELS = Pattern.compile("Created (\\d+) GPU delegate kernels");
    private static final Pattern NOT_SUPPORTED = Pattern.compile(
            "Following operations are not supported by (\\S+) delegate");
    private static final Pattern OP_LINE = Pattern.compile("^([A-Z][A-Z0-9_]*(?: [A-Za-z][A-Za-z0-9_]*)?): ");
    private static final Pattern FAILED = Pattern.compile("(?:Failed to apply|Could not apply|failed to prepare) (\\S+) delegate",
            Pattern.CASE_INSENSITIVE);

    /** What the log says about one job. Counts stay null when the log did not say them. */
    public static final class Outcome {
        /** gpu / nnapi / xnnpack → nodes it replaced; "cpu" → the rest of the graph's nodes. */
        public final Map<String, Integer> nodesByDelegate = new LinkedHashMap<>();
        public Integer nodesTotal;
        public Integer gpuKernels;
        /** Op types a delegate refused (they run on the interpreter's CPU kernels), in log order, no repeats. */
        public final List<String> unsupportedOps = new ArrayList<>();
        public final List<String> failed = new ArrayList<>();

        /** Nodes the named delegate replaced, 0 when the log shows none. */
        public int replacedBy(String delegate) {
            Integer n = nodesByDelegate.get(delegate);
            return n == null ? 0 : n;
        }
    }

    private DelegateLog() {}

    /** "TfLiteGpuDelegateV2" → gpu, "TfLiteXNNPackDelegate" → xnnpack, "TfLiteNnapiDelegate" → nnapi. */
    public static String shortName(String runtimeName) {
        String n = runtimeName.toLowerCase(Locale.ROOT);
        if (n.contains("gpu")) {
            return "gpu";
        }
        if (n.contains("xnnpack")) {
            return "xnnpack";
        }
        if (n.contains("nnapi")) {
            return "nnapi";
        }
        return n;
    }

    public static Outcome parse(List<String> lines) {
        Outcome out = new Outcome();
        boolean inList = false;
        for (String raw : lines) {
            String line = PREFIX.matcher(raw.trim()).replaceFirst("");
            if (inList) {
                Matcher op = OP_LINE.matcher(line);
                if (op.find()) {
                    if (!out.unsupportedOps.contains(op.group(1))) {
                        out.unsupportedOps.add(op.group(1));
                    }
                    continue;
                }
                inList = false;
            }
            Matcher m = REPLACING.matcher(line);
            if (m.find()) {
                String d = shortName(m.group(3));
                int replaced = Integer.parseInt(m.group(1));
                out.nodesByDelegate.merge(d, replaced, Integer::sum);
                if (m.group(2) != null) {
                    int total = Integer.parseInt(m.group(2));
                    out.nodesTotal = out.nodesTotal == null ? total : Math.max(out.nodesTotal, total);
                }
                continue;
            }
            m = GPU_KERNELS.matcher(line);
            if (m.find()) {
                out.gpuKernels = Integer.parseInt(m.group(1));
                continue;
            }
            m = NOT_SUPPORTED.matcher(line);
            if (m.find()) {
                inList = true;
                continue;
            }
            m = FAILED.matcher(line);
            if (m.find()) {
                out.failed.add(shortName(m.group(1)));
            }
        }
        if (out.nodesTotal != null) {
            int delegated = 0;
            for (int n : out.nodesByDelegate.values()) {
                delegated += n;
            }
            out.nodesByDelegate.put("cpu", Math.max(0, out.nodesTotal - delegated));
        }
        return out;
    }
}
