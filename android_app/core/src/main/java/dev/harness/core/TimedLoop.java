package dev.harness.core;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * rpi/runner.py's timed_loop, step for step: a first inference, warm-up by runs and by seconds, then every
 * invoke timed until min runs AND min seconds are both met, or max seconds / max runs is hit; every sample
 * kept. The arithmetic (double seconds, the runner's rounding) follows the Python so that
 * contracts/timed_loop/cases.json reproduces exactly under the same fake clock.
 */
public final class TimedLoop {
    /** Called about every sample_interval_s between timed invokes (never inside one), with the phase "run". */
    public interface Sampler {
        void sample(String phase);
    }

    /**
     * One inference that reports its own duration: the nanoseconds of the runtime's Invoke alone (LiteRT's
     * getLastNativeInferenceDurationNanoseconds), or a negative number when the runtime did not say, in which
     * case the loop's clock around the whole call is the sample. The Java Interpreter's run call copies the
     * inputs in and the outputs out around Invoke; rpi/runner.py and benchmark_model time Invoke only, so
     * the app's latencies are like for like only with the runtime's own figure.
     */
    public interface TimedInvoke {
        long invokeNanos();
    }

    /** The loop's settings: the job's fields the loop reads. */
    public static final class Settings {
        public int warmupRuns;
        public double warmupS;
        public int minRuns;
        public double minS;
        public double maxS;
        public int maxRuns;
        public double sampleIntervalS;

        public static Settings of(Job job) {
            Settings s = new Settings();
            s.warmupRuns = job.warmupRuns;
            s.warmupS = job.warmupS;
            s.minRuns = job.minRuns;
            s.minS = job.minS;
            s.maxS = job.maxS;
            s.maxRuns = job.maxRuns;
            s.sampleIntervalS = job.sampleIntervalS;
            return s;
        }
    }

    /** What the loop measured; field meanings and rounding as the runner's result keys. */
    public static final class Outcome {
        public final double firstInferenceUs;
        public final int warmupRunsDone;
        public final double durationS;
        public final double windowStartUnixS;
        public final double windowEndUnixS;
        public final List<Double> latenciesUs;

        Outcome(double firstInferenceUs, int warmupRunsDone, double durationS, double windowStartUnixS,
                double windowEndUnixS, List<Double> latenciesUs) {
            this.firstInferenceUs = firstInferenceUs;
            this.warmupRunsDone = warmupRunsDone;
            this.durationS = durationS;
            this.windowStartUnixS = windowStartUnixS;
            this.windowEndUnixS = windowEndUnixS;
            this.latenciesUs = Collections.unmodifiableList(latenciesUs);
        }
    }

    private TimedLoop() {}

    /** Python's round(x, digits): the exact binary value rounded half-even, back to the nearest double. */
    public static double round(double x, int digits) {
        if (Double.isNaN(x) || Double.isInfinite(x)) {
            return x;
        }
        return new BigDecimal(x).setScale(digits, RoundingMode.HALF_EVEN).doubleValue();
    }

    public static Outcome run(Runnable invoke, Settings cfg, Clock clock, Sampler sample) {
        return run(() -> {
            invoke.run();
            return -1L;
        }, cfg, clock, sample);
    }

    /** The loop with each sample taken from the invoke's own figure where it gives one (see TimedInvoke). */
    public static Outcome run(TimedInvoke invoke, Settings cfg, Clock clock, Sampler sample) {
        long t0 = clock.nanoTime();
        long own = invoke.invokeNanos();
        double firstUs = (own >= 0 ? own : clock.nanoTime() - t0) / 1000.0;

        double warmEnd = clock.monotonicS() + cfg.warmupS;
        int warm = 0;
        while (warm < cfg.warmupRuns || clock.monotonicS() < warmEnd) {
            invoke.invokeNanos();
            warm++;
        }

        List<Double> samples = new ArrayList<>();
        double wallStart = clock.unixS();
        double start = clock.monotonicS();
        double nextSample = start + cfg.sampleIntervalS;
        while (true) {
            long s0 = clock.nanoTime();
            long ns = invoke.invokeNanos();
            samples.add((ns >= 0 ? ns : clock.nanoTime() - s0) / 1000.0);
            double now = clock.monotonicS();
            if (sample != null && now >= nextSample) {
                sample.sample("run");
                nextSample = now + cfg.sampleIntervalS;
            }
            double elapsed = now - start;
            if (samples.size() >= cfg.minRuns && elapsed >= cfg.minS) {
                break;
            }
            if (elapsed >= cfg.maxS || (cfg.maxRuns != 0 && samples.size() >= cfg.maxRuns)) {
                break;
            }
        }
        double duration = round(clock.monotonicS() - start, 6);
        double wallEnd = clock.unixS();
        List<Double> rounded = new ArrayList<>(samples.size());
        for (double x : samples) {
            rounded.add(round(x, 3));
        }
        return new Outcome(firstUs, warm, duration, round(wallStart, 6), round(wallEnd, 6), rounded);
    }
}
