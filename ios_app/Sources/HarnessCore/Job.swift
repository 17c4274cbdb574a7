import Foundation

/// The runner's schema version (rpi/runner.py SCHEMA_VERSION); contracts/results/*.json carry it.
public let schemaVersion = 4

/// Core ML compute units a job may ask for (MLModelConfiguration.computeUnits on the phone).
public enum ComputeUnits: String, Codable, CaseIterable, Sendable {
    case cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all
}

/// Evaluation inputs the host put next to the model: raw little-endian float32, `count` samples of `shape`.
/// The app writes the model's outputs back in the same raw form, and the host scores them.
public struct EvalInputs: Codable, Equatable, Sendable {
    public var path: String
    public var shape: [Int]
    public var count: Int

    public init(path: String, shape: [Int], count: Int) {
        self.path = path
        self.shape = shape
        self.count = count
    }
}

/// One runner job: exactly the keys of rpi/runner.py's job (contracts/jobs/basic.json) with its defaults,
/// plus the iOS keys (`compute_units`, `eval`), which are written only when set.
///
/// An iOS job (one with `compute_units`, contracts/jobs/ios_coreml.json) is written without the keys
/// that only mean something to the Linux runner (`delegate_library`, `ignore_sensors`, `cpufreq_glob`, `op_profiling`, `op_profile_runs`: an
/// external delegate's shared library and sysfs paths) unless they differ from the default, as the host's iOS
/// target writes it; they are still read, and defaulted, from any job.
public struct BenchJob: Codable, Equatable, Sendable {
    public var modelPath: String
    public var threads: Int = 1
    public var delegate: String = "xnnpack"
    /// An external delegate's shared library (the runner loads it with load_delegate); nil: none.
    public var delegateLibrary: String? = nil
    public var inputShapes: [String: [Int]]? = nil
    public var seed: Int = 0
    public var warmupRuns: Int = 1
    public var warmupS: Double = 0.5
    public var minRuns: Int = 50
    public var minS: Double = 1.0
    public var maxS: Double = 150.0
    public var maxRuns: Int = 0
    public var sampleIntervalS: Double = 0.5
    public var thermalGlob: String = "/sys/class/thermal/thermal_zone*"
    /// Thermal zone names (prefixes) that are not temperatures on the board (Jetson PMIC-Die).
    public var ignoreSensors: [String] = []
    public var cpufreqGlob: String = BenchJob.defaultCpufreqGlob
    /// rpi/runner.py DEFAULT_JOB["cpufreq_glob"].
    public static let defaultCpufreqGlob = "/sys/devices/system/cpu/cpu[0-9]*/cpufreq"
    /// A per-op profile pass after the timed runs (the Linux runner's LiteRT C API profiler).
    public var opProfiling: Bool = false
    public var opProfileRuns: Int = 20
    public var computeUnits: ComputeUnits? = nil
    public var eval: EvalInputs? = nil
    /// Sustained mode (rpi/runner.py `_sustained_loop`): run this many seconds in windows of `windowS`
    /// (nil: sustained_s / 20, at least 0.5 s). Optional keys, written only when set (not in the golden job).
    public var sustainedS: Double? = nil
    public var windowS: Double? = nil

    public init(modelPath: String) {
        self.modelPath = modelPath
    }

    enum CodingKeys: String, CodingKey {
        case modelPath = "model_path", threads, delegate, delegateLibrary = "delegate_library"
        case inputShapes = "input_shapes", seed
        case warmupRuns = "warmup_runs", warmupS = "warmup_s", minRuns = "min_runs", minS = "min_s"
        case maxS = "max_s", maxRuns = "max_runs", sampleIntervalS = "sample_interval_s"
        case thermalGlob = "thermal_glob", ignoreSensors = "ignore_sensors", cpufreqGlob = "cpufreq_glob"
        case opProfiling = "op_profiling", opProfileRuns = "op_profile_runs"
        case computeUnits = "compute_units", eval
        case sustainedS = "sustained_s", windowS = "window_s"
    }

    /// Missing keys take the runner's DEFAULT_JOB values, as `{**DEFAULT_JOB, **job}` does.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelPath = try c.decode(String.self, forKey: .modelPath)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        delegate = try c.decodeIfPresent(String.self, forKey: .delegate) ?? delegate
        delegateLibrary = try c.decodeIfPresent(String.self, forKey: .delegateLibrary)
        inputShapes = try c.decodeIfPresent([String: [Int]].self, forKey: .inputShapes)
        seed = try c.decodeIfPresent(Int.self, forKey: .seed) ?? seed
        warmupRuns = try c.decodeIfPresent(Int.self, forKey: .warmupRuns) ?? warmupRuns
        warmupS = try c.decodeIfPresent(Double.self, forKey: .warmupS) ?? warmupS
        minRuns = try c.decodeIfPresent(Int.self, forKey: .minRuns) ?? minRuns
        minS = try c.decodeIfPresent(Double.self, forKey: .minS) ?? minS
        maxS = try c.decodeIfPresent(Double.self, forKey: .maxS) ?? maxS
        maxRuns = try c.decodeIfPresent(Int.self, forKey: .maxRuns) ?? maxRuns
        sampleIntervalS = try c.decodeIfPresent(Double.self, forKey: .sampleIntervalS) ?? sampleIntervalS
        thermalGlob = try c.decodeIfPresent(String.self, forKey: .thermalGlob) ?? thermalGlob
        ignoreSensors = try c.decodeIfPresent([String].self, forKey: .ignoreSensors) ?? ignoreSensors
        cpufreqGlob = try c.decodeIfPresent(String.self, forKey: .cpufreqGlob) ?? cpufreqGlob
        opProfiling = try c.decodeIfPresent(Bool.self, forKey: .opProfiling) ?? opProfiling
        opProfileRuns = try c.decodeIfPresent(Int.self, forKey: .opProfileRuns) ?? opProfileRuns
        computeUnits = try c.decodeIfPresent(ComputeUnits.self, forKey: .computeUnits)
        eval = try c.decodeIfPresent(EvalInputs.self, forKey: .eval)
        sustainedS = try c.decodeIfPresent(Double.self, forKey: .sustainedS)
        windowS = try c.decodeIfPresent(Double.self, forKey: .windowS)
    }

    /// Every runner key is written (input_shapes and delegate_library as null when unset), so the JSON has the
    /// runner's keys; an iOS job leaves out the Linux-only keys (see the type's note).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelPath, forKey: .modelPath)
        try c.encode(threads, forKey: .threads)
        try c.encode(delegate, forKey: .delegate)
        if computeUnits == nil {
            if let delegateLibrary { try c.encode(delegateLibrary, forKey: .delegateLibrary) } else { try c.encodeNil(forKey: .delegateLibrary) }
            try c.encode(ignoreSensors, forKey: .ignoreSensors)
            try c.encode(cpufreqGlob, forKey: .cpufreqGlob)
            try c.encode(opProfiling, forKey: .opProfiling)
            try c.encode(opProfileRuns, forKey: .opProfileRuns)
        } else {  // an iOS job: only what differs from the default, so nothing read is lost
            try c.encodeIfPresent(delegateLibrary, forKey: .delegateLibrary)
            if !ignoreSensors.isEmpty { try c.encode(ignoreSensors, forKey: .ignoreSensors) }
            if cpufreqGlob != BenchJob.defaultCpufreqGlob { try c.encode(cpufreqGlob, forKey: .cpufreqGlob) }
            if opProfiling { try c.encode(opProfiling, forKey: .opProfiling) }
            if opProfileRuns != 20 { try c.encode(opProfileRuns, forKey: .opProfileRuns) }
        }
        if let inputShapes { try c.encode(inputShapes, forKey: .inputShapes) } else { try c.encodeNil(forKey: .inputShapes) }
        try c.encode(seed, forKey: .seed)
        try c.encode(warmupRuns, forKey: .warmupRuns)
        try c.encode(warmupS, forKey: .warmupS)
        try c.encode(minRuns, forKey: .minRuns)
        try c.encode(minS, forKey: .minS)
        try c.encode(maxS, forKey: .maxS)
        try c.encode(maxRuns, forKey: .maxRuns)
        try c.encode(sampleIntervalS, forKey: .sampleIntervalS)
        try c.encode(thermalGlob, forKey: .thermalGlob)
        try c.encodeIfPresent(computeUnits, forKey: .computeUnits)
        try c.encodeIfPresent(eval, forKey: .eval)
        try c.encodeIfPresent(sustainedS, forKey: .sustainedS)
        try c.encodeIfPresent(windowS, forKey: .windowS)
    }

    /// The loop settings the timed loop reads.
    public var loop: LoopSettings {
        LoopSettings(warmupRuns: warmupRuns, warmupS: warmupS, minRuns: minRuns, minS: minS, maxS: maxS,
                     maxRuns: maxRuns, sampleIntervalS: sampleIntervalS)
    }
}
