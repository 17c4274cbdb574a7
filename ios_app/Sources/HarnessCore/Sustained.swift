import Foundation

/// What sustained mode adds to a result (rpi/runner.py `_sustained_loop`): optional keys, written only when the
/// job asked for sustained mode, so the golden result files and `schema_version` stay as they are.
public struct SustainedOutcome: Equatable, Sendable {
    public var sustainedS: Double
    public var windowS: Double
    /// [t_s since the loop began (after the first inference), runs done so far], one per window.
    public var windows: [[Double]]
    public var timedStartS: Double
    /// The host asked the loop to stop (Documents/jobs/NAME.stop): what ran until then is kept.
    public var interrupted: Bool
    /// ProcessInfo.thermalState read at the end of each window (the host times the first throttle event
    /// by it); empty where the loop had no probe.
    public var windowThermalStates: [String]
    /// Seconds from the loop's end to the result being put together (probes, evaluation, compute plan): the
    /// host places the windows on its own clock from when the result appeared, less this.
    public var afterLoopS: Double?

    public init(sustainedS: Double, windowS: Double, windows: [[Double]], timedStartS: Double, interrupted: Bool,
                windowThermalStates: [String], afterLoopS: Double? = nil) {
        self.sustainedS = sustainedS
        self.windowS = windowS
        self.windows = windows
        self.timedStartS = timedStartS
        self.interrupted = interrupted
        self.windowThermalStates = windowThermalStates
        self.afterLoopS = afterLoopS
    }
}

/// The window a job asks for: `window_s`, or sustained_s / 20 and at least 0.5 s when it gives none (the runner's).
public func sustainedWindowS(sustainedS: Double, windowS: Double?) -> Double {
    if let w = windowS, w > 0 { return w }
    return max(sustainedS / 20.0, 0.5)
}

/// Sustained mode's loop, step for step the runner's `_sustained_loop` (contracts/timed_loop/sustained.json):
/// the first inference, no warm-up (the cold start is what it measures), then `sustainedS` seconds of
/// back-to-back timed invokes with a window boundary at the first invoke past every `windowS`.
/// At each boundary `sample("run")` and `windowEnd()` (the thermal state) are called; `shouldStop()` is asked
/// there and at every sampling point (about every sampleIntervalS): a stop request ends the loop at once, the
/// part of the window run so far closed as the last window, so nothing measured is lost and the host's
/// Ctrl-C is answered within a sampling interval, not a whole window.
public func sustainedLoop(sustainedS: Double, windowS: Double?, sampleIntervalS: Double, clock: MonotonicClock,
                          sample: ((String) -> Void)? = nil, windowEnd: (() -> String)? = nil,
                          shouldStop: () -> Bool = { false },
                          invoke: () throws -> Void) rethrows -> (LoopOutcome, SustainedOutcome) {
    func monotonic() -> Double { Double(clock.nowNanoseconds()) / 1e9 }
    let window = sustainedWindowS(sustainedS: sustainedS, windowS: windowS)
    var t0 = clock.nowNanoseconds()
    try invoke()
    let first = Double(clock.nowNanoseconds() - t0) / 1000.0
    var samples: [Double] = []
    var windows: [[Double]] = []
    var states: [String] = []
    let base = monotonic()
    let wallStart = clock.unixSeconds()
    let start = monotonic()
    var nextSample = start + sampleIntervalS
    var nextWindow = start + window
    var interrupted = false
    while true {
        t0 = clock.nowNanoseconds()
        try invoke()
        samples.append(Double(clock.nowNanoseconds() - t0) / 1000.0)
        let now = monotonic()
        if now >= nextWindow || now - start >= sustainedS {
            sample?("run")
            windows.append([pythonRound(now - base, 3), Double(samples.count)])
            if let windowEnd { states.append(windowEnd()) }
            nextWindow = now + window
            nextSample = now + sampleIntervalS
            if now - start < sustainedS && shouldStop() {
                interrupted = true
                break
            }
        } else if now >= nextSample {
            sample?("run")
            nextSample = now + sampleIntervalS
            if now - start < sustainedS && shouldStop() {  // mid-window: the part run so far is a window
                windows.append([pythonRound(now - base, 3), Double(samples.count)])
                if let windowEnd { states.append(windowEnd()) }
                interrupted = true
                break
            }
        }
        if now - start >= sustainedS { break }
    }
    let loop = LoopOutcome(firstInferenceUs: first, warmupRunsDone: 0, durationS: pythonRound(monotonic() - start, 6),
                           timedWindowUnixS: [pythonRound(wallStart, 6), pythonRound(clock.unixSeconds(), 6)],
                           latenciesUs: samples.map { pythonRound($0, 3) })
    let outcome = SustainedOutcome(sustainedS: sustainedS, windowS: window, windows: windows,
                                   timedStartS: pythonRound(start - base, 3), interrupted: interrupted,
                                   windowThermalStates: states)
    return (loop, outcome)
}
