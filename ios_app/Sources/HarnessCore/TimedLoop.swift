import Foundation

/// A monotonic clock in nanoseconds: the loop's only source of time, so tests can drive it.
public protocol MonotonicClock: AnyObject {
    /// Nanoseconds since an arbitrary origin; never goes backwards.
    func nowNanoseconds() -> UInt64
    /// Seconds since 1970, for the timed window the host matches power samples against.
    func unixSeconds() -> Double
}

/// The real clocks: CLOCK_MONOTONIC (mach continuous time on Apple systems) and the wall clock.
public final class SystemClock: MonotonicClock {
    public init() {}

    public func nowNanoseconds() -> UInt64 {
        #if canImport(Darwin)
        return clock_gettime_nsec_np(CLOCK_UPTIME_RAW)
        #else
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        #endif
    }

    public func unixSeconds() -> Double { Date().timeIntervalSince1970 }
}

/// The loop settings of a job (the runner's warmup/min/max keys).
public struct LoopSettings: Codable, Equatable, Sendable {
    public var warmupRuns: Int
    public var warmupS: Double
    public var minRuns: Int
    public var minS: Double
    public var maxS: Double
    public var maxRuns: Int
    public var sampleIntervalS: Double

    public init(warmupRuns: Int, warmupS: Double, minRuns: Int, minS: Double, maxS: Double, maxRuns: Int,
                sampleIntervalS: Double) {
        self.warmupRuns = warmupRuns
        self.warmupS = warmupS
        self.minRuns = minRuns
        self.minS = minS
        self.maxS = maxS
        self.maxRuns = maxRuns
        self.sampleIntervalS = sampleIntervalS
    }

    enum CodingKeys: String, CodingKey {
        case warmupRuns = "warmup_runs", warmupS = "warmup_s", minRuns = "min_runs", minS = "min_s"
        case maxS = "max_s", maxRuns = "max_runs", sampleIntervalS = "sample_interval_s"
    }
}

/// What the loop measured: the result fields rpi/runner.py's timed_loop returns.
public struct LoopOutcome: Equatable, Sendable {
    public var firstInferenceUs: Double
    public var warmupRunsDone: Int
    public var durationS: Double
    public var timedWindowUnixS: [Double]
    public var latenciesUs: [Double]

    public init(firstInferenceUs: Double, warmupRunsDone: Int, durationS: Double, timedWindowUnixS: [Double],
                latenciesUs: [Double]) {
        self.firstInferenceUs = firstInferenceUs
        self.warmupRunsDone = warmupRunsDone
        self.durationS = durationS
        self.timedWindowUnixS = timedWindowUnixS
        self.latenciesUs = latenciesUs
    }
}

/// Python's round(x, digits): the correctly rounded decimal of the double's exact value (ties to even),
/// which printf's %.*f also gives; the runner rounds latencies to 3 digits and the duration to 6.
public func pythonRound(_ x: Double, _ digits: Int) -> Double {
    guard x.isFinite else { return x }
    return Double(String(format: "%.\(digits)f", x)) ?? x
}

/// The runner's timed loop (rpi/runner.py timed_loop), step for step and in the same floating-point
/// arithmetic: first inference, warm-up until both warmup_runs and warmup_s are met, then every invoke
/// timed until min_runs AND min_s are met, or max_s / max_runs (0: no cap) is hit. `sample("run")` is
/// called about every sample_interval_s between timed calls, never inside one. Every sample is kept.
public func timedLoop(_ settings: LoopSettings, clock: MonotonicClock, sample: ((String) -> Void)? = nil,
                      invoke: () throws -> Void) rethrows -> LoopOutcome {
    // Python: time.monotonic() is float seconds; perf_counter_ns() is integer nanoseconds.
    func monotonic() -> Double { Double(clock.nowNanoseconds()) / 1e9 }
    func elapsedUs(_ t0: UInt64) -> Double { Double(clock.nowNanoseconds() - t0) / 1000.0 }

    var t0 = clock.nowNanoseconds()
    try invoke()
    let first = elapsedUs(t0)

    let warmEnd = monotonic() + settings.warmupS
    var warm = 0
    while warm < settings.warmupRuns || monotonic() < warmEnd {
        try invoke()
        warm += 1
    }

    var samples: [Double] = []
    let wallStart = clock.unixSeconds()
    let start = monotonic()
    var nextSample = start + settings.sampleIntervalS
    while true {
        t0 = clock.nowNanoseconds()
        try invoke()
        samples.append(elapsedUs(t0))
        let now = monotonic()
        if let sample, now >= nextSample {
            sample("run")
            nextSample = now + settings.sampleIntervalS
        }
        let elapsed = now - start
        if samples.count >= settings.minRuns && elapsed >= settings.minS { break }
        if elapsed >= settings.maxS || (settings.maxRuns != 0 && samples.count >= settings.maxRuns) { break }
    }
    let duration = pythonRound(monotonic() - start, 6)
    let window = [pythonRound(wallStart, 6), pythonRound(clock.unixSeconds(), 6)]
    return LoopOutcome(firstInferenceUs: first, warmupRunsDone: warm, durationS: duration,
                       timedWindowUnixS: window, latenciesUs: samples.map { pythonRound($0, 3) })
}
