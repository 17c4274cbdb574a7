package dev.harness.companion;

import dev.harness.core.Clock;

/** Monotonic seconds from the same clock the timed loop uses. */
final class SystemTimes {
    private SystemTimes() {}

    static double monotonicS() {
        return Clock.SYSTEM.monotonicS();
    }
}
