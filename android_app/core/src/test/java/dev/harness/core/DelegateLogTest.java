package dev.harness.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/** The runtime's delegate lines, from a real recorded Android GPU run and in logcat's framing. */
public class DelegateLogTest {
    @Test
    public void theRecordedGpuRun() throws Exception {
        Path recorded = Golden.dir().resolve("../tests/fixtures/device-outputs/benchmark_model.android_gpu.txt");
        List<String> lines = Files.readAllLines(recorded, StandardCharsets.UTF_8);
        DelegateLog.Outcome o = DelegateLog.parse(lines);
        assertEquals(Integer.valueOf(1), o.gpuKernels); // "INFO: Created 1 GPU delegate kernels."
        assertTrue(o.unsupportedOps.isEmpty());
        assertNull(o.nodesTotal); // that build did not print the Replacing line: unknown, not guessed
    }

    @Test
    public void partialGpuWithLogcatPrefixes() {
        // The runtime's messages (lite/core/subgraph.cc, delegates/gpu), as logcat -v brief / threadtime frame them.
        List<String> lines = Arrays.asList(
                "I/tflite  (12345): Created TensorFlow Lite delegate for GPU.",
                "E/tflite  (12345): Following operations are not supported by GPU delegate:",
                "E/tflite  (12345): CUSTOM TFLite_Detection_PostProcess: Operation is not supported.",
                "E/tflite  (12345): RESIZE_NEAREST_NEIGHBOR: Max version supported: 3. Requested version 4.",
                "E/tflite  (12345): RESHAPE: Expected 1 runtime input tensor(s), but node has 2 runtime input(s).",
                "E/tflite  (12345): 60 operations will run on the GPU, and the remaining 3 operations will run on the CPU.",
                "12-01 14:09:29.123  4567  4590 I tflite  : Replacing 60 out of 63 node(s) with delegate "
                        + "(TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.",
                "I/tflite  (12345): Created 2 GPU delegate kernels.");
        DelegateLog.Outcome o = DelegateLog.parse(lines);
        assertEquals(Integer.valueOf(63), o.nodesTotal);
        assertEquals(60, o.replacedBy("gpu"));
        assertEquals(Integer.valueOf(3), o.nodesByDelegate.get("cpu"));
        assertEquals(Arrays.asList("CUSTOM TFLite_Detection_PostProcess", "RESIZE_NEAREST_NEIGHBOR", "RESHAPE"),
                o.unsupportedOps);
        assertEquals(Integer.valueOf(2), o.gpuKernels);
    }

    @Test
    public void xnnpackAndAFailedGpu() {
        DelegateLog.Outcome o = DelegateLog.parse(Arrays.asList(
                "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                "INFO: Replacing 3 out of 3 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions.",
                "ERROR: Failed to apply GPU delegate."));
        assertEquals(3, o.replacedBy("xnnpack"));
        assertEquals(Integer.valueOf(0), o.nodesByDelegate.get("cpu"));
        assertEquals(Arrays.asList("gpu"), o.failed);
    }
}
