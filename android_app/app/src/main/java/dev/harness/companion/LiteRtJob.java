package dev.harness.companion;

import android.os.Build;
import dev.harness.core.AndroidReadings;
import dev.harness.core.AppRun;
import dev.harness.core.Clock;
import dev.harness.core.EvalPass;
import dev.harness.core.InputSpec;
import dev.harness.core.Job;
import dev.harness.core.JobRequest;
import dev.harness.core.SustainedLoop;
import dev.harness.core.TempSample;
import dev.harness.core.TimedLoop;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * One job on LiteRT's Interpreter, measured the runner's way (dev.harness.core.TimedLoop): the result has the
 * runner's keys, and the Android readings (battery, thermal, delegate per node, memory) go under "android".
 * A requested delegate that cannot be applied is recorded (delegate_error) and the job runs on CPU kernels,
 * named "none" (dev.harness.core.AppRun.delegateRan), so the host flags the fallback instead of losing the
 * measurement. Each latency is the runtime's own Invoke time (getLastNativeInferenceDurationNanoseconds), as
 * the runner and benchmark_model time it; the Java run call's input and output copies are left out.
 * In sustained mode (the sustained_s extra) the loop is dev.harness.core.SustainedLoop: windows, the thermal
 * status at each window end, and a stop file the host pushes on Ctrl-C (JobRequest.stopFile).
 */
final class LiteRtJob {
    private final Probes probes;

    LiteRtJob(Probes probes) {
        this.probes = probes;
    }

    /** The result JSON for the request, with the app's readings under "android". */
    String run(JobRequest req) throws IOException {
        Job job = req.job;
        AppRun run = new AppRun();
        run.job = job;
        AndroidReadings a = run.readings;
        a.runToken = req.runToken;
        a.sdkInt = Build.VERSION.SDK_INT;
        a.deviceModel = Build.MANUFACTURER + " " + Build.MODEL;
        a.batteryBefore = probes.battery();
        a.thermalStatusBefore = probes.thermalStatus();
        a.thermalHeadroomBefore = probes.thermalHeadroom();
        run.runtimeVersion = TensorFlowLite.runtimeVersion();
        run.machine = Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : null;

        double t0 = SystemTimes.monotonicS();
        List<TempSample> temps = run.temperatures;
        TimedLoop.Sampler sample = phase -> {
            Double c = probes.batteryTemperatureC();
            if (c != null) {
                Map<String, Double> zones = new HashMap<>();
                zones.put("battery", c);
                temps.add(new TempSample(TimedLoop.round(SystemTimes.monotonicS() - t0, 3), phase, zones));
            }
        };
        sample.sample("before");
        run.peakReset = Probes.resetPeakRss();
        run.vmRssBaseKb = Probes.procStatusKb("VmRSS");
        double logFrom = TfliteLog.now() - 0.001;

        ByteBuffer model = map(job.modelPath);
        List<Delegate> delegates = new ArrayList<>();
        long init0 = System.nanoTime();
        Interpreter interp;
        try {
            interp = new Interpreter(model, options(job, delegates));
        } catch (RuntimeException e) { // the delegate refused the graph: measure on CPU kernels, say so
            closeAll(delegates);
            run.delegateError = e.getClass().getSimpleName() + ": " + e.getMessage();
            Interpreter.Options cpu = new Interpreter.Options().setNumThreads(job.threads).setUseXNNPACK(false);
            interp = new Interpreter(model, cpu);
        }
        try {
            if (job.inputShapes != null) { // the host's input_shapes extra, as the runner resizes them
                for (int i = 0; i < interp.getInputTensorCount(); i++) {
                    List<Integer> shape = job.inputShapes.get(interp.getInputTensor(i).name());
                    if (shape != null) {
                        interp.resizeInput(i, shape.stream().mapToInt(Integer::intValue).toArray());
                    }
                }
            }
            interp.allocateTensors();
            run.initUs = (System.nanoTime() - init0) / 1000.0;

            Object[] inputs = new Object[interp.getInputTensorCount()];
            Random rng = new Random(job.seed);
            for (int i = 0; i < inputs.length; i++) {
                Tensor t = interp.getInputTensor(i);
                List<Integer> shape = new ArrayList<>();
                for (int d : t.shape()) {
                    shape.add(d);
                }
                run.inputs.add(new InputSpec(t.name(), shape, t.dataType().toString().toLowerCase(Locale.ROOT)));
                inputs[i] = randomBuffer(t, rng);
            }
            Map<Integer, Object> outputs = new HashMap<>();
            for (int i = 0; i < interp.getOutputTensorCount(); i++) {
                outputs.put(i, ByteBuffer.allocateDirect(interp.getOutputTensor(i).numBytes())
                        .order(ByteOrder.nativeOrder()));
            }
            final Interpreter running = interp;
            final boolean[] javaTimed = {false};
            TimedLoop.TimedInvoke invoke = () -> {
                for (Object o : outputs.values()) {
                    ((ByteBuffer) o).rewind();
                }
                running.runForMultipleInputsOutputs(inputs, outputs);
                Long ns = running.getLastNativeInferenceDurationNanoseconds();
                if (ns == null) {
                    javaTimed[0] = true;
                    return -1L;
                }
                return ns;
            };
            if (req.sustained != null) { // --sustained: one unbroken loop in windows, stopped by the host's stop file
                SustainedLoop.Result sus = SustainedLoop.run(invoke, req.sustained[0], req.sustained[1],
                        job.sampleIntervalS, Clock.SYSTEM, sample, probes::thermalStatus, req::stopRequested);
                run.loop = sus.loop;
                run.sustained = sus.sustained;
            } else {
                run.loop = TimedLoop.run(invoke, TimedLoop.Settings.of(job), Clock.SYSTEM, sample);
            }
            run.nativeTimer = !javaTimed[0];
            run.vmHwmKb = Probes.procStatusKb("VmHWM");
            run.vmRssEndKb = Probes.procStatusKb("VmRSS");
            if (req.eval != null) { // accuracy as it ran here: GPU fp16, NNAPI, int8 kernels
                try {
                    if (interp.getInputTensorCount() != 1) {
                        throw new IllegalArgumentException("eval needs a model with one input, not "
                                + interp.getInputTensorCount());
                    }
                    EvalPass.Written w = EvalPass.run(req.eval, interp.getInputTensor(0).shape(),
                            new LiteRtEvalModel(interp), req.outputsFile());
                    a.outputsPath = w.file.getPath();
                    a.outputsShape = w.shape;
                } catch (IOException | RuntimeException e) { // the timing stands; only the accuracy is lost
                    a.evalError = e.getClass().getSimpleName() + ": " + e.getMessage();
                }
            }
        } finally {
            interp.close();
            closeAll(delegates);
        }
        sample.sample("after");
        a.pssMb = Probes.pssMb();
        a.tfliteLog = TfliteLog.since(logFrom);
        a.batteryAfter = probes.battery();
        a.thermalStatusAfter = probes.thermalStatus();
        a.thermalHeadroomAfter = probes.thermalHeadroom();
        return run.resultJson();
    }

    private static Interpreter.Options options(Job job, List<Delegate> delegates) {
        Interpreter.Options o = new Interpreter.Options().setNumThreads(job.threads);
        switch (job.delegate) {
            case "gpu": {
                CompatibilityList compat = new CompatibilityList();
                if (!compat.isDelegateSupportedOnThisDevice()) {
                    throw new IllegalStateException("GPU delegate not supported on this device");
                }
                GpuDelegate gpu = new GpuDelegate(compat.getBestOptionsForThisDevice());
                delegates.add(gpu);
                o.addDelegate(gpu);
                break;
            }
            case "nnapi": {
                NnApiDelegate nnapi = new NnApiDelegate();
                delegates.add(nnapi);
                o.addDelegate(nnapi);
                break;
            }
            case "none":
            case "cpu":
                o.setUseXNNPACK(false); // the reference kernels, as the runner's delegate "none"
                break;
            default:
                o.setUseXNNPACK(true);
        }
        return o;
    }

    private static void closeAll(List<Delegate> delegates) {
        for (Delegate d : delegates) {
            try {
                d.close();
            } catch (Exception ignored) { // Delegate is Closeable in some releases: catch what close() may throw
                // a delegate that failed to initialise may fail to close too
            }
        }
        delegates.clear();
    }

    private static MappedByteBuffer map(String path) throws IOException {
        try (FileInputStream in = new FileInputStream(path); FileChannel ch = in.getChannel()) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        }
    }

    /** Random data of the tensor's type, as the runner's _make_inputs: floats in [0, 1), ints in [-128, 255]. */
    private static ByteBuffer randomBuffer(Tensor t, Random rng) {
        ByteBuffer b = ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder());
        DataType type = t.dataType();
        while (b.hasRemaining()) {
            if (type == DataType.FLOAT32) {
                b.putFloat(rng.nextFloat());
            } else if (type == DataType.INT32) {
                b.putInt(rng.nextInt(384) - 128);
            } else if (type == DataType.INT64) {
                b.putLong(rng.nextInt(384) - 128);
            } else if (type == DataType.UINT8) {
                b.put((byte) rng.nextInt(256));
            } else if (type == DataType.INT8) {
                b.put((byte) (rng.nextInt(256) - 128));
            } else if (type == DataType.BOOL) {
                b.put((byte) (rng.nextBoolean() ? 1 : 0));
            } else {
                b.put((byte) rng.nextInt(256)); // other types: random bytes of the right size
            }
        }
        b.rewind();
        return b;
    }
}
