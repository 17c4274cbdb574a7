// The headless Core ML run: Documents/jobs/NAME.json in, Documents/results/NAME.json out.
// Compiled only where Core ML exists (iOS, macOS); on Linux this file is empty. Not compiled or tested here:
// its Foundation-only parts (job and result types, timed loop, file layout, seeded inputs, the bad-job
// error result, result assembly, the evaluation writer, the compute-plan summary) are in HarnessCore and
// tested with `swift test`; what is left here is the Core ML calls themselves.
#if canImport(CoreML)
import CoreML
import Foundation
import HarnessCore

extension ComputeUnits {
    /// MLModelConfiguration.computeUnits for the job's `compute_units`.
    public var mlComputeUnits: MLComputeUnits {
        switch self {
        case .cpuOnly: return .cpuOnly
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        case .all: return .all
        }
    }
}

public enum CoreMLRunError: Error, CustomStringConvertible {
    case notCoreML(String)
    case unsupportedInput(String)
    case evalMismatch(String)
    case noTFLite

    public var description: String {
        switch self {
        case .notCoreML(let p): return "\(p) is not a Core ML model (.mlpackage, .mlmodel or .mlmodelc)"
        case .unsupportedInput(let s): return "input \(s) is not a fixed-shape multi-array (image inputs are not supported)"
        case .evalMismatch(let s): return "evaluation inputs do not match the model: \(s)"
        case .noTFLite: return "this build of the app has no TensorFlow Lite (built without the TensorFlowLiteSwift pod)"
        }
    }
}

/// Readings the run takes besides time; closures so the runner needs no UIKit (macOS tests, previews).
public struct RunProbes: Sendable {
    public var thermalState: @Sendable () -> String
    public var battery: @Sendable () async -> (level: Double?, state: String)
    public var physFootprintMb: @Sendable () -> (current: Double, peak: Double)?
    public var machine: @Sendable () -> String

    public init(thermalState: @escaping @Sendable () -> String,
                battery: @escaping @Sendable () async -> (level: Double?, state: String),
                physFootprintMb: @escaping @Sendable () -> (current: Double, peak: Double)?,
                machine: @escaping @Sendable () -> String) {
        self.thermalState = thermalState
        self.battery = battery
        self.physFootprintMb = physFootprintMb
        self.machine = machine
    }
}

public struct CoreMLRunner: Sendable {
    public let files: JobFiles
    public let probes: RunProbes

    public init(files: JobFiles, probes: RunProbes) {
        self.files = files
        self.probes = probes
    }

    /// Run the job and write its result; a bad job or a failure becomes the runner's error shape, never a crash
    /// and never a missing result (HarnessCore.HeadlessJob, tested on Linux).
    @discardableResult
    public func runAndWrite(name: String) async -> RunnerResult {
        let runner = self
        return await HeadlessJob.runAndWrite(name: name, files: files) { job, name in
            if job.modelPath.hasSuffix(".tflite") {
                #if canImport(TensorFlowLite)
                return try TFLiteRunner(files: runner.files, probes: runner.probes).run(job: job, name: name)
                #else
                throw CoreMLRunError.noTFLite
                #endif
            }
            return try await runner.run(job: job, name: name)
        }
    }

    /// .mlpackage / .mlmodel -> .mlmodelc on the device. compileModel(at:) has a synchronous and an async
    /// overload in the SDK; inside an async function Swift picks the async one, which needs `await`.
    static func compiledModelURL(_ url: URL) async throws -> URL {
        let compiled = url.pathExtension == "mlmodelc" ? url : try await MLModel.compileModel(at: url)
        return compiled
    }

    public func run(job: BenchJob, name: String) async throws -> OkResult {
        let url = try files.resolve(job.modelPath)
        guard ["mlpackage", "mlmodel", "mlmodelc"].contains(url.pathExtension) else {
            throw CoreMLRunError.notCoreML(job.modelPath)
        }
        let units = job.computeUnits ?? .all
        let clock = SystemClock()
        let thermalBefore = probes.thermalState()
        let batteryBefore = await probes.battery()
        let memBefore = probes.physFootprintMb()

        // init = compile (.mlpackage -> .mlmodelc on the device) + load with the compute units asked for.
        let config = MLModelConfiguration()
        config.computeUnits = units.mlComputeUnits
        let t0 = clock.nowNanoseconds()
        let compiled = try await Self.compiledModelURL(url)
        let model = try MLModel(contentsOf: compiled, configuration: config)
        let initUs = Double(clock.nowNanoseconds() - t0) / 1000.0

        var rng = SeededRandom(seed: job.seed)
        var features: [String: MLFeatureValue] = [:]
        var infos: [InputInfo] = []
        for (inputName, desc) in model.modelDescription.inputDescriptionsByName.sorted(by: { $0.key < $1.key }) {
            guard desc.type == .multiArray, let c = desc.multiArrayConstraint else {
                throw CoreMLRunError.unsupportedInput(inputName)
            }
            let array = try MLMultiArray(shape: c.shape, dataType: .float32)
            let ptr = array.dataPointer.bindMemory(to: Float.self, capacity: array.count)
            for i in 0..<array.count { ptr[i] = rng.nextFloat() }
            features[inputName] = MLFeatureValue(multiArray: array)
            infos.append(InputInfo(name: inputName, shape: c.shape.map(\.intValue), dtype: "float32"))
        }
        let provider = try MLDictionaryFeatureProvider(dictionary: features)

        let during = ThermalLog()
        // Each prediction in its own autorelease pool: its output buffers are freed before the next run.
        let loop: LoopOutcome
        var sustained: SustainedOutcome?
        if let seconds = job.sustainedS, seconds > 0 {  // sustained mode: windows, a thermal state at each end
            let files = self.files
            let pair = try sustainedLoop(
                sustainedS: seconds, windowS: job.windowS, sampleIntervalS: job.sampleIntervalS, clock: clock,
                sample: { _ in during.append(self.probes.thermalState()) },
                windowEnd: { self.probes.thermalState() }, shouldStop: { files.stopRequested(name) }) {
                try drainingPool { _ = try model.prediction(from: provider) }
            }
            loop = pair.0
            sustained = pair.1
        } else {
            loop = try timedLoop(job.loop, clock: clock, sample: { _ in during.append(self.probes.thermalState()) }) {
                try drainingPool { _ = try model.prediction(from: provider) }
            }
        }
        let loopEnded = clock.nowNanoseconds()
        let thermalAfter = probes.thermalState()
        let batteryAfter = await probes.battery()
        let memAfter = probes.physFootprintMb()

        var outputsPath: String?
        var outputsShape: [Int]?
        var evalError: String?
        if let eval = job.eval {
            do {  // the timing stands if this fails; only the accuracy is lost, and said why
                guard infos.count == 1, let input = infos.first else {
                    throw CoreMLRunError.evalMismatch("models with \(infos.count) inputs")
                }
                (outputsPath, outputsShape) = try EvalPass.run(
                    eval, inputShape: input.shape, files: files, name: name,
                    model: CoreMLEvalModel(model: model, inputName: input.name))
            } catch {
                evalError = "\(type(of: error)): \(error)"
            }
        }
        let plan = await computePlan(compiled, config: config, units: units)
        let os = ProcessInfo.processInfo.operatingSystemVersionString
        let ios = IosExtras(
            computeUnits: units.rawValue, thermalStateBefore: thermalBefore, thermalStatesDuring: during.states,
            thermalStateAfter: thermalAfter, batteryLevelBefore: batteryBefore.level,
            batteryLevelAfter: batteryAfter.level, batteryStateBefore: batteryBefore.state,
            batteryStateAfter: batteryAfter.state, physFootprintMb: memAfter?.current, outputsPath: outputsPath,
            outputsShape: outputsShape, device: probes.machine(), osVersion: os, evalError: evalError,
            computePlan: plan)
        // Asked for: the job's delegate (the host writes "coreml"); ran: Core ML, with its placement in ios.
        var facts = AppRunFacts(
            runtime: "coreml", runtimeVersion: os, machine: probes.machine(),
            delegate: DelegateOutcome(requested: job.delegate, ran: "coreml", error: nil),
            initUs: initUs, inputs: infos, loop: loop,
            // Right after the timed loop (before any evaluation pass): phys_footprint, as the peak is.
            footprint: FootprintReadings(beforeMb: memBefore?.current, afterMb: memAfter?.current,
                                         peakMb: memAfter?.peak),
            ios: ios, sustained: sustained)
        if facts.sustained != nil {  // the host places the windows on its clock from when the result appears
            facts.sustained?.afterLoopS = pythonRound(Double(clock.nowNanoseconds() - loopEnded) / 1e9, 3)
        }
        return facts.result(for: job)
    }

    /// MLComputePlan (iOS 17.4+): the preferred and supported device of every op, summarised in HarnessCore.
    private func computePlan(_ compiled: URL, config: MLModelConfiguration, units: ComputeUnits) async
        -> ComputePlanReport {
        guard #available(iOS 17.4, macOS 14.4, *) else {
            return .notAvailable("MLComputePlan needs iOS 17.4; this phone runs "
                                 + ProcessInfo.processInfo.operatingSystemVersionString)
        }
        do {
            let plan = try await MLComputePlan.load(contentsOf: compiled, configuration: config)
            var ops: [PlannedOp] = []
            Self.collect(plan.modelStructure, plan: plan, into: &ops)
            if ops.isEmpty { return .notAvailable("MLComputePlan listed no operations for this model") }
            return ComputePlanReport.summarise(ops, units: units)
        } catch {
            return .notAvailable("MLComputePlan failed: \(error)")
        }
    }

    @available(iOS 17.4, macOS 14.4, *)
    private static func collect(_ structure: MLModelStructure, plan: MLComputePlan, into ops: inout [PlannedOp]) {
        switch structure {
        case .program(let program):
            for (_, function) in program.functions.sorted(by: { $0.key < $1.key }) {
                collect(function.block, plan: plan, into: &ops)
            }
        case .neuralNetwork(let nn):
            for layer in nn.layers {
                let usage = plan.deviceUsage(for: layer)
                ops.append(PlannedOp(name: layer.type, preferred: usage.map { kind($0.preferred) },
                                     supported: usage.map { $0.supported.map(kind) } ?? []))
            }
        case .pipeline(let pipeline):
            for sub in pipeline.subModels { collect(sub, plan: plan, into: &ops) }
        case .unsupported:
            break
        @unknown default:
            break
        }
    }

    @available(iOS 17.4, macOS 14.4, *)
    private static func collect(_ block: MLModelStructure.Program.Block, plan: MLComputePlan,
                                into ops: inout [PlannedOp]) {
        for op in block.operations {
            let usage = plan.deviceUsage(for: op)
            ops.append(PlannedOp(name: op.operatorName, preferred: usage.map { kind($0.preferred) },
                                 supported: usage.map { $0.supported.map(kind) } ?? []))
            for inner in op.blocks { collect(inner, plan: plan, into: &ops) }
        }
    }

    @available(iOS 17.4, macOS 14.4, *)
    private static func kind(_ device: MLComputeDevice) -> ComputeDeviceKind {
        switch device {
        case .cpu: return .cpu
        case .gpu: return .gpu
        case .neuralEngine: return .neuralEngine
        @unknown default: return .cpu
        }
    }
}

/// Core ML behind HarnessCore's EvalModel: one sample in, the first output (by name) back.
struct CoreMLEvalModel: EvalModel {
    let model: MLModel
    let inputName: String

    func predict(_ input: [Float], shape: [Int]) throws -> (values: [Float], shape: [Int]) {
        try drainingPool {
            let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) }, dataType: .float32)
            let dst = array.dataPointer.bindMemory(to: Float.self, capacity: input.count)
            for i in 0..<input.count { dst[i] = input[i] }
            let pred = try model.prediction(from: MLDictionaryFeatureProvider(
                dictionary: [inputName: MLFeatureValue(multiArray: array)]))
            let outName = model.modelDescription.outputDescriptionsByName.keys.sorted().first ?? ""
            guard let result = pred.featureValue(for: outName)?.multiArrayValue else {
                throw CoreMLRunError.evalMismatch("output \(outName) is not a multi-array")
            }
            return ((0..<result.count).map { result[$0].floatValue }, result.shape.map(\.intValue))
        }
    }
}

/// Thermal states seen while timing, appended from the loop's sampler.
final class ThermalLog: @unchecked Sendable {
    private(set) var states: [String] = []
    func append(_ s: String) { states.append(s) }
}
#endif
