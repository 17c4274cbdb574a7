package dev.harness.core;

import java.time.Instant;

/**
 * Where the timed loop reads time. The runner uses perf_counter_ns for each invoke, monotonic seconds for
 * its windows and time.time() for the wall-clock window; here all three come from one interface so tests
 * can drive the loop with the contract's fake clock (time passes only inside invoke()).
 */
public interface Clock {
    /** A monotonic nanosecond counter (System.nanoTime on a phone). */
    long nanoTime();

    /** Monotonic seconds, derived as the runner's fake clock does: nanoseconds / 1e9. */
    default double monotonicS() {
        return nanoTime() / 1e9;
    }

    /** Wall-clock seconds since the Unix epoch (the host lines power samples up with this window). */
    double unixS();

    Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public double unixS() {
            Instant now = Instant.now();
            return now.getEpochSecond() + now.getNano() / 1e9;
        }
    };
}
