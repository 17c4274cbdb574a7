package dev.harness.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Sustained mode (rpi/runner.py _sustained_loop), step for step: the first inference, no warm-up (the cold
 * start is what it measures), then sustainedS seconds of back-to-back timed invokes with a window boundary at
 * the first invoke past every windowS; contracts/timed_loop/sustained.json pins the windows. At each boundary
 * the sampler runs and the thermal probe is read; a stop request is asked there and at every sampling point, and
 * ends the loop at once, the part of the window run so far closed as the last window (as HarnessCore's Swift
 * loop does). The result keys are optional (sustained_s, window_s, windows, timed_start_s,
 * interrupted, window_thermal_status): the golden result and schema_version are unchanged.
 */
public final class SustainedLoop {
    /** What sustained mode adds to the loop's outcome. */
    public static final class Windows {
        public final double sustainedS;
        public final double windowS;
        /** [t_s since the loop began (after the first inference), runs done so far], one per window. */
        public final List<double[]> windows;
        public final double timedStartS;
        public final boolean interrupted;
        /** The probe's reading at each window end (Android: PowerManager thermal status); empty without one. */
        public final List<Integer> windowThermalStatus;

        Windows(double sustainedS, double windowS, List<double[]> windows, double timedStartS, boolean interrupted,
                List<Integer> windowThermalStatus) {
            this.sustainedS = sustainedS;
            this.windowS = windowS;
            this.windows = Collections.unmodifiableList(windows);
            this.timedStartS = timedStartS;
            this.interrupted = interrupted;
            this.windowThermalStatus = Collections.unmodifiableList(windowThermalStatus);
        }
    }

    /** The loop's outcome and its windows. */
    public static final class Result {
        public final TimedLoop.Outcome loop;
        public final Windows sustained;

        Result(TimedLoop.Outcome loop, Windows sustained) {
            this.loop = loop;
            this.sustained = sustained;
        }
    }

    private SustainedLoop() {}

    /** window_s, or sustained_s / 20 and at least 0.5 s when the job gives none (the runner's rule). */
    public static double windowS(double sustainedS, double windowS) {
        return windowS > 0 ? windowS : Math.max(sustainedS / 20.0, 0.5);
    }

    public static Result run(TimedLoop.TimedInvoke invoke, double sustainedS, double windowS, double sampleIntervalS,
                             Clock clock, TimedLoop.Sampler sample, Supplier<Integer> thermal, BooleanSupplier stop) {
        double window = windowS(sustainedS, windowS);
        long t0 = clock.nanoTime();
        long own = invoke.invokeNanos();
        double firstUs = (own >= 0 ? own : clock.nanoTime() - t0) / 1000.0;
        List<Double> samples = new ArrayList<>();
        List<double[]> windows = new ArrayList<>();
        List<Integer> status = new ArrayList<>();
        double base = clock.monotonicS();
        double wallStart = clock.unixS();
        double start = clock.monotonicS();
        double nextSample = start + sampleIntervalS;
        double nextWindow = start + window;
        boolean interrupted = false;
        while (true) {
            long s0 = clock.nanoTime();
            long ns = invoke.invokeNanos();
            samples.add((ns >= 0 ? ns : clock.nanoTime() - s0) / 1000.0);
            double now = clock.monotonicS();
            if (now >= nextWindow || now - start >= sustainedS) {
                if (sample != null) {
                    sample.sample("run");
                }
                windows.add(new double[] {TimedLoop.round(now - base, 3), samples.size()});
                if (thermal != null) {
                    status.add(thermal.get());
                }
                nextWindow = now + window;
                nextSample = now + sampleIntervalS;
                if (now - start < sustainedS && stop != null && stop.getAsBoolean()) {
                    interrupted = true;
                    break;
                }
            } else if (now >= nextSample) {
                if (sample != null) {
                    sample.sample("run");
                }
                nextSample = now + sampleIntervalS;
                if (now - start < sustainedS && stop != null && stop.getAsBoolean()) {
                    windows.add(new double[] {TimedLoop.round(now - base, 3), samples.size()});  // the part run
                    if (thermal != null) {
                        status.add(thermal.get());
                    }
                    interrupted = true;
                    break;
                }
            }
            if (now - start >= sustainedS) {
                break;
            }
        }
        double duration = TimedLoop.round(clock.monotonicS() - start, 6);
        double wallEnd = clock.unixS();
        List<Double> rounded = new ArrayList<>(samples.size());
        for (double x : samples) {
            rounded.add(TimedLoop.round(x, 3));
        }
        TimedLoop.Outcome loop = new TimedLoop.Outcome(firstUs, 0, duration, TimedLoop.round(wallStart, 6),
                TimedLoop.round(wallEnd, 6), rounded);
        return new Result(loop, new Windows(sustainedS, window, windows, TimedLoop.round(start - base, 3),
                interrupted, status));
    }
}
