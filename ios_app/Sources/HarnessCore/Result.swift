import Foundation

/// One model input as the runner reports it.
public struct InputInfo: Codable, Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: String

    public init(name: String, shape: [Int], dtype: String) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }
}

/// A temperature reading `[t_s, phase, {zone: celsius}]`: a JSON array of three kinds, as the runner writes it.
public struct TempSample: Codable, Equatable, Sendable {
    public var tS: Double
    public var phase: String
    public var zonesC: [String: Double]

    public init(tS: Double, phase: String, zonesC: [String: Double]) {
        self.tS = tS
        self.phase = phase
        self.zonesC = zonesC
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        tS = try c.decode(Double.self)
        phase = try c.decode(String.self)
        zonesC = try c.decode([String: Double].self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(tS)
        try c.encode(phase)
        try c.encode(zonesC)
    }
}

/// One CPU's clock in a cpu_freq sample: the runner's `{"cur": MHz, "max": MHz}` (scaling_cur_freq and
/// scaling_max_freq); `max` is absent where the kernel does not expose it, and is then not written.
public struct CpuClock: Codable, Equatable, Sendable {
    public var cur: Int
    public var max: Int?

    public init(cur: Int, max: Int? = nil) {
        self.cur = cur
        self.max = max
    }

    enum CodingKeys: String, CodingKey { case cur, max }
}

/// A clock reading `[t_s, phase, {cpuN: {"cur": MHz, "max": MHz}}]`, as rpi/runner.py's run_sampler writes it,
/// so the host sees a clock that fell during the run.
public struct CpuFreqSample: Codable, Equatable, Sendable {
    public var tS: Double
    public var phase: String
    public var cpusMhz: [String: CpuClock]

    public init(tS: Double, phase: String, cpusMhz: [String: CpuClock]) {
        self.tS = tS
        self.phase = phase
        self.cpusMhz = cpusMhz
    }

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        tS = try c.decode(Double.self)
        phase = try c.decode(String.self)
        cpusMhz = try c.decode([String: CpuClock].self)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(tS)
        try c.encode(phase)
        try c.encode(cpusMhz)
    }
}

/// What only the iOS app records: ProcessInfo.thermalState around the run, battery, compute units,
/// the memory figure's source, where the evaluation outputs were written, why a requested delegate was
/// refused, and where Core ML placed the ops (MLComputePlan). contracts/results/ios_ok.json pins the keys;
/// every key is written (null when not read), so the block has one shape.
public struct IosExtras: Codable, Equatable, Sendable {
    public var computeUnits: String
    public var thermalStateBefore: String
    public var thermalStatesDuring: [String]
    public var thermalStateAfter: String
    public var batteryLevelBefore: Double?
    public var batteryLevelAfter: Double?
    public var batteryStateBefore: String
    public var batteryStateAfter: String
    public var memoryMetric: String
    public var physFootprintMb: Double?
    public var outputsPath: String?
    public var outputsShape: [Int]?
    public var device: String?
    public var osVersion: String?
    /// Why the requested delegate was refused (a .tflite job that fell back to CPU kernels); nil when not.
    public var delegateError: String?
    /// Why the evaluation pass failed (the timing stands without it); nil when it ran or was not asked for.
    public var evalError: String?
    /// MLComputePlan's placement of the ops (Core ML jobs); nil for .tflite jobs.
    public var computePlan: ComputePlanReport?

    public init(computeUnits: String, thermalStateBefore: String, thermalStatesDuring: [String],
                thermalStateAfter: String, batteryLevelBefore: Double?, batteryLevelAfter: Double?,
                batteryStateBefore: String, batteryStateAfter: String, memoryMetric: String = "phys_footprint",
                physFootprintMb: Double? = nil, outputsPath: String? = nil, outputsShape: [Int]? = nil,
                device: String? = nil, osVersion: String? = nil, delegateError: String? = nil,
                evalError: String? = nil, computePlan: ComputePlanReport? = nil) {
        self.computeUnits = computeUnits
        self.thermalStateBefore = thermalStateBefore
        self.thermalStatesDuring = thermalStatesDuring
        self.thermalStateAfter = thermalStateAfter
        self.batteryLevelBefore = batteryLevelBefore
        self.batteryLevelAfter = batteryLevelAfter
        self.batteryStateBefore = batteryStateBefore
        self.batteryStateAfter = batteryStateAfter
        self.memoryMetric = memoryMetric
        self.physFootprintMb = physFootprintMb
        self.outputsPath = outputsPath
        self.outputsShape = outputsShape
        self.device = device
        self.osVersion = osVersion
        self.delegateError = delegateError
        self.evalError = evalError
        self.computePlan = computePlan
    }

    enum CodingKeys: String, CodingKey {
        case computeUnits = "compute_units", thermalStateBefore = "thermal_state_before"
        case thermalStatesDuring = "thermal_states_during", thermalStateAfter = "thermal_state_after"
        case batteryLevelBefore = "battery_level_before", batteryLevelAfter = "battery_level_after"
        case batteryStateBefore = "battery_state_before", batteryStateAfter = "battery_state_after"
        case memoryMetric = "memory_metric", physFootprintMb = "phys_footprint_mb"
        case outputsPath = "outputs_path", outputsShape = "outputs_shape", device, osVersion = "os_version"
        case delegateError = "delegate_error", evalError = "eval_error", computePlan = "compute_plan"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(computeUnits, forKey: .computeUnits)
        try c.encode(thermalStateBefore, forKey: .thermalStateBefore)
        try c.encode(thermalStatesDuring, forKey: .thermalStatesDuring)
        try c.encode(thermalStateAfter, forKey: .thermalStateAfter)
        try c.encode(batteryLevelBefore, forKey: .batteryLevelBefore)
        try c.encode(batteryLevelAfter, forKey: .batteryLevelAfter)
        try c.encode(batteryStateBefore, forKey: .batteryStateBefore)
        try c.encode(batteryStateAfter, forKey: .batteryStateAfter)
        try c.encode(memoryMetric, forKey: .memoryMetric)
        try c.encode(physFootprintMb, forKey: .physFootprintMb)
        try c.encode(outputsPath, forKey: .outputsPath)
        try c.encode(outputsShape, forKey: .outputsShape)
        try c.encode(device, forKey: .device)
        try c.encode(osVersion, forKey: .osVersion)
        try c.encode(delegateError, forKey: .delegateError)
        try c.encode(evalError, forKey: .evalError)
        try c.encode(computePlan, forKey: .computePlan)
    }
}

/// A successful runner result: every key rpi/runner.py writes (contracts/results/ok.json), nulls included.
public struct OkResult: Codable, Equatable, Sendable {
    public var schemaVersion: Int = HarnessCore.schemaVersion
    public var runtime: String
    public var runtimeVersion: String
    public var python: String?
    public var machine: String
    public var modelPath: String
    public var threads: Int
    /// The job's `delegate`, as asked for.
    public var delegateRequested: String
    /// The delegate that actually ran (the runner reads it from the graph; "none" when it took no op).
    public var delegate: String
    /// The external delegate's library, written only when the job named one.
    public var delegateLibrary: String?
    public var initUs: Double
    public var opsTotal: Int?
    public var opsDelegated: Int?
    public var opsOnCpuKernels: [String]
    public var inputs: [InputInfo]
    public var firstInferenceUs: Double
    public var warmupRunsDone: Int
    public var durationS: Double
    public var timedWindowUnixS: [Double]
    public var latenciesUs: [Double]
    public var peakRssDeltaMb: Double?
    public var peakRssMb: Double?
    /// Resident memory after the run, MB (on the iPhone: phys_footprint); nil where not measured.
    public var endRssMb: Double?
    public var temperatures: [TempSample]
    /// Clock samples; empty where the system exposes no cpufreq (containers, iPhones).
    public var cpuFreq: [CpuFreqSample]
    /// Present only in results written by the iOS app, under the key "ios".
    public var ios: IosExtras?
    /// Sustained mode's keys (sustained_s, window_s, windows, timed_start_s, interrupted,
    /// window_thermal_states, after_loop_s), written only when the job asked for it.
    public var sustained: SustainedOutcome?

    public init(runtime: String, runtimeVersion: String, python: String?, machine: String, modelPath: String,
                threads: Int, delegateRequested: String, delegate: String, delegateLibrary: String? = nil,
                initUs: Double, opsTotal: Int?, opsDelegated: Int?, opsOnCpuKernels: [String], inputs: [InputInfo],
                loop: LoopOutcome, peakRssDeltaMb: Double?, peakRssMb: Double?, endRssMb: Double?,
                temperatures: [TempSample], cpuFreq: [CpuFreqSample], ios: IosExtras? = nil,
                sustained: SustainedOutcome? = nil) {
        self.runtime = runtime
        self.runtimeVersion = runtimeVersion
        self.python = python
        self.machine = machine
        self.modelPath = modelPath
        self.threads = threads
        self.delegateRequested = delegateRequested
        self.delegate = delegate
        self.delegateLibrary = delegateLibrary
        self.initUs = initUs
        self.opsTotal = opsTotal
        self.opsDelegated = opsDelegated
        self.opsOnCpuKernels = opsOnCpuKernels
        self.inputs = inputs
        self.firstInferenceUs = loop.firstInferenceUs
        self.warmupRunsDone = loop.warmupRunsDone
        self.durationS = loop.durationS
        self.timedWindowUnixS = loop.timedWindowUnixS
        self.latenciesUs = loop.latenciesUs
        self.peakRssDeltaMb = peakRssDeltaMb
        self.peakRssMb = peakRssMb
        self.endRssMb = endRssMb
        self.temperatures = temperatures
        self.cpuFreq = cpuFreq
        self.ios = ios
        self.sustained = sustained
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", runtime, runtimeVersion = "runtime_version", python, machine
        case modelPath = "model_path", threads, delegateRequested = "delegate_requested", delegate
        case delegateLibrary = "delegate_library", error, initUs = "init_us", opsTotal = "ops_total"
        case opsDelegated = "ops_delegated", opsOnCpuKernels = "ops_on_cpu_kernels", inputs
        case firstInferenceUs = "first_inference_us", warmupRunsDone = "warmup_runs_done"
        case durationS = "duration_s", timedWindowUnixS = "timed_window_unix_s", latenciesUs = "latencies_us"
        case peakRssDeltaMb = "peak_rss_delta_mb", peakRssMb = "peak_rss_mb", endRssMb = "end_rss_mb"
        case temperatures, cpuFreq = "cpu_freq", ios
        case sustainedS = "sustained_s", windowS = "window_s", windows, timedStartS = "timed_start_s", interrupted
        case windowThermalStates = "window_thermal_states", afterLoopS = "after_loop_s"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(Int.self, forKey: .schemaVersion)
        runtime = try c.decode(String.self, forKey: .runtime)
        runtimeVersion = try c.decode(String.self, forKey: .runtimeVersion)
        python = try c.decodeIfPresent(String.self, forKey: .python)
        machine = try c.decode(String.self, forKey: .machine)
        modelPath = try c.decode(String.self, forKey: .modelPath)
        threads = try c.decode(Int.self, forKey: .threads)
        delegateRequested = try c.decode(String.self, forKey: .delegateRequested)
        delegate = try c.decode(String.self, forKey: .delegate)
        delegateLibrary = try c.decodeIfPresent(String.self, forKey: .delegateLibrary)
        initUs = try c.decode(Double.self, forKey: .initUs)
        opsTotal = try c.decodeIfPresent(Int.self, forKey: .opsTotal)
        opsDelegated = try c.decodeIfPresent(Int.self, forKey: .opsDelegated)
        opsOnCpuKernels = try c.decode([String].self, forKey: .opsOnCpuKernels)
        inputs = try c.decode([InputInfo].self, forKey: .inputs)
        firstInferenceUs = try c.decode(Double.self, forKey: .firstInferenceUs)
        warmupRunsDone = try c.decode(Int.self, forKey: .warmupRunsDone)
        durationS = try c.decode(Double.self, forKey: .durationS)
        timedWindowUnixS = try c.decode([Double].self, forKey: .timedWindowUnixS)
        latenciesUs = try c.decode([Double].self, forKey: .latenciesUs)
        peakRssDeltaMb = try c.decodeIfPresent(Double.self, forKey: .peakRssDeltaMb)
        peakRssMb = try c.decodeIfPresent(Double.self, forKey: .peakRssMb)
        endRssMb = try c.decodeIfPresent(Double.self, forKey: .endRssMb)
        temperatures = try c.decode([TempSample].self, forKey: .temperatures)
        cpuFreq = try c.decode([CpuFreqSample].self, forKey: .cpuFreq)
        ios = try c.decodeIfPresent(IosExtras.self, forKey: .ios)
        if let windows = try c.decodeIfPresent([[Double]].self, forKey: .windows) {
            sustained = SustainedOutcome(
                sustainedS: try c.decode(Double.self, forKey: .sustainedS),
                windowS: try c.decode(Double.self, forKey: .windowS), windows: windows,
                timedStartS: try c.decodeIfPresent(Double.self, forKey: .timedStartS) ?? 0,
                interrupted: try c.decodeIfPresent(Bool.self, forKey: .interrupted) ?? false,
                windowThermalStates: try c.decodeIfPresent([String].self, forKey: .windowThermalStates) ?? [],
                afterLoopS: try c.decodeIfPresent(Double.self, forKey: .afterLoopS))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func opt<T: Encodable>(_ v: T?, _ k: CodingKeys) throws {
            if let v { try c.encode(v, forKey: k) } else { try c.encodeNil(forKey: k) }
        }
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(runtime, forKey: .runtime)
        try c.encode(runtimeVersion, forKey: .runtimeVersion)
        try opt(python, .python)
        try c.encode(machine, forKey: .machine)
        try c.encode(modelPath, forKey: .modelPath)
        try c.encode(threads, forKey: .threads)
        try c.encode(delegateRequested, forKey: .delegateRequested)
        try c.encode(delegate, forKey: .delegate)
        try c.encodeIfPresent(delegateLibrary, forKey: .delegateLibrary)
        try c.encodeNil(forKey: .error)
        try c.encode(initUs, forKey: .initUs)
        try opt(opsTotal, .opsTotal)
        try opt(opsDelegated, .opsDelegated)
        try c.encode(opsOnCpuKernels, forKey: .opsOnCpuKernels)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(firstInferenceUs, forKey: .firstInferenceUs)
        try c.encode(warmupRunsDone, forKey: .warmupRunsDone)
        try c.encode(durationS, forKey: .durationS)
        try c.encode(timedWindowUnixS, forKey: .timedWindowUnixS)
        try c.encode(latenciesUs, forKey: .latenciesUs)
        try opt(peakRssDeltaMb, .peakRssDeltaMb)
        try opt(peakRssMb, .peakRssMb)
        try opt(endRssMb, .endRssMb)
        try c.encode(temperatures, forKey: .temperatures)
        try c.encode(cpuFreq, forKey: .cpuFreq)
        try c.encodeIfPresent(ios, forKey: .ios)
        if let s = sustained {
            try c.encode(s.sustainedS, forKey: .sustainedS)
            try c.encode(s.windowS, forKey: .windowS)
            try c.encode(s.windows, forKey: .windows)
            try c.encode(s.timedStartS, forKey: .timedStartS)
            try c.encode(s.interrupted, forKey: .interrupted)
            if !s.windowThermalStates.isEmpty { try c.encode(s.windowThermalStates, forKey: .windowThermalStates) }
            try c.encodeIfPresent(s.afterLoopS, forKey: .afterLoopS)
        }
    }
}

/// A failed job: the runner's `{schema_version, error, traceback}` (contracts/results/error.json).
public struct ErrorResult: Codable, Equatable, Sendable {
    public var schemaVersion: Int = HarnessCore.schemaVersion
    public var error: String
    public var traceback: String

    public init(error: String, traceback: String) {
        self.error = error
        self.traceback = traceback
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", error, traceback
    }
}

/// The runner's result JSON: a non-null `error` makes it a failure, as the host reads it.
public enum RunnerResult: Codable, Equatable, Sendable {
    case ok(OkResult)
    case failure(ErrorResult)

    enum Probe: String, CodingKey { case error, schemaVersion = "schema_version" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Probe.self)
        let version = try c.decode(Int.self, forKey: .schemaVersion)
        guard version == schemaVersion else {
            throw DecodingError.dataCorruptedError(forKey: .schemaVersion, in: c,
                debugDescription: "schema_version \(version), this app reads \(schemaVersion)")
        }
        if try c.decodeIfPresent(String.self, forKey: .error) != nil {
            self = .failure(try ErrorResult(from: decoder))
        } else {
            self = .ok(try OkResult(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .ok(let r): try r.encode(to: encoder)
        case .failure(let r): try r.encode(to: encoder)
        }
    }

    /// JSON as the app writes it to Documents/results/NAME.json (sorted keys, like the contract files).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try enc.encode(self)
    }
}
