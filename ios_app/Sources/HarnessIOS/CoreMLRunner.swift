// The headless Core ML run: Documents/jobs/NAME.json in, Documents/results/NAME.json out.
// Compiled only where Core ML exists (iOS, macOS); on Linux this file is empty. Not compiled or tested here:
// its Foundation-only parts (job and result types, timed loop, file layout, seeded inputs) are in
// HarnessCore and tested with `swift test`.
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

    public var description: String {
        switch self {
        case .notCoreML(let p): return "\(p) is not a Core ML model (.mlpackage, .mlmodel or .mlmodelc)"
        case .unsupportedInput(let s): return "input \(s) is not a fixed-shape multi-array (image inputs are not supported)"
        case .evalMismatch(let s): return "evaluation inputs do not match the model: \(s)"
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

    /// Run the job and write its result; a failure becomes the runner's error shape, never a crash.
    @discardableResult
    public func runAndWrite(name: String) async -> RunnerResult {
        let result: RunnerResult
        do {
            if try files.readJob(name).modelPath.hasSuffix(".tflite") {
                #if canImport(TensorFlowLite)
                result = .ok(try TFLiteRunner(files: files).run(name: name))
                #else
                result = .failure(ErrorResult(error: "this build of the app has no TensorFlow Lite (built without "
                                              + "the TensorFlowLiteSwift pod)", traceback: ""))
                #endif
            } else {
                result = .ok(try await run(name: name))
            }
        } catch {
            result = .failure(ErrorResult(error: "\(type(of: error)): \(error)", traceback: ""))
        }
        do {
            try files.write(result, name: name)
        } catch {
            NSLog("harness: cannot write result %@: %@", name, "\(error)")
        }
        return result
    }

    public func run(name: String) async throws -> OkResult {
        let job = try files.readJob(name)
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
        let compiled = url.pathExtension == "mlmodelc" ? url : try MLModel.compileModel(at: url)
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
        let loop = try timedLoop(job.loop, clock: clock, sample: { _ in during.append(self.probes.thermalState()) }) {
            _ = try model.prediction(from: provider)
        }
        let thermalAfter = probes.thermalState()
        let batteryAfter = await probes.battery()
        let memAfter = probes.physFootprintMb()

        var outputsPath: String?
        var outputsShape: [Int]?
        if let eval = job.eval {
            (outputsPath, outputsShape) = try runEval(eval, model: model, name: name, inputs: infos)
        }
        let peak = memAfter?.peak
        let ios = IosExtras(
            computeUnits: units.rawValue, thermalStateBefore: thermalBefore, thermalStatesDuring: during.states,
            thermalStateAfter: thermalAfter, batteryLevelBefore: batteryBefore.level,
            batteryLevelAfter: batteryAfter.level, batteryStateBefore: batteryBefore.state,
            batteryStateAfter: batteryAfter.state, physFootprintMb: memAfter?.current, outputsPath: outputsPath,
            outputsShape: outputsShape, device: probes.machine(),
            osVersion: ProcessInfo.processInfo.operatingSystemVersionString)
        return OkResult(
            runtime: "coreml", runtimeVersion: ProcessInfo.processInfo.operatingSystemVersionString, python: nil,
            machine: probes.machine(), modelPath: job.modelPath, threads: job.threads,
            // Asked for: the job's delegate (the host writes "coreml"); ran: Core ML, with the compute units in ios.
            delegateRequested: job.delegate, delegate: "coreml",
            initUs: initUs, opsTotal: nil, opsDelegated: nil, opsOnCpuKernels: [], inputs: infos, loop: loop,
            peakRssDeltaMb: peak.flatMap { p in memBefore.map { pythonRound(p - $0.current, 3) } },
            peakRssMb: peak.map { pythonRound($0, 3) },
            // Right after the timed loop (before any evaluation pass): phys_footprint, as the peak is.
            endRssMb: memAfter.map { pythonRound($0.current, 3) },
            temperatures: [], cpuFreq: [], ios: ios)  // no sysfs clocks on iOS: not measured, so empty
    }

    /// Evaluation: `count` raw float32 samples of the single input, each predicted; the first output
    /// (by name) of every sample is appended to results/NAME.outputs.f32 for the host to score.
    private func runEval(_ eval: EvalInputs, model: MLModel, name: String,
                         inputs: [InputInfo]) throws -> (String, [Int]) {
        guard inputs.count == 1, let input = inputs.first else {
            throw CoreMLRunError.evalMismatch("models with \(inputs.count) inputs")
        }
        let per = eval.shape.reduce(1, *)
        guard per == input.shape.reduce(1, *) else {
            throw CoreMLRunError.evalMismatch("shape \(eval.shape) vs \(input.shape)")
        }
        let data = try Data(contentsOf: files.resolve(eval.path))
        guard data.count == eval.count * per * 4 else {
            throw CoreMLRunError.evalMismatch("\(data.count) bytes for \(eval.count) samples of \(per) floats")
        }
        let outName = model.modelDescription.outputDescriptionsByName.keys.sorted().first ?? ""
        var out = Data()
        var outShape: [Int] = []
        for s in 0..<eval.count {
            let array = try MLMultiArray(shape: input.shape.map { NSNumber(value: $0) }, dataType: .float32)
            let dst = array.dataPointer.bindMemory(to: Float.self, capacity: per)
            data.withUnsafeBytes { raw in
                let src = raw.bindMemory(to: Float.self)
                for i in 0..<per { dst[i] = Float(bitPattern: UInt32(littleEndian: src[s * per + i].bitPattern)) }
            }
            let pred = try model.prediction(from: MLDictionaryFeatureProvider(
                dictionary: [input.name: MLFeatureValue(multiArray: array)]))
            guard let result = pred.featureValue(for: outName)?.multiArrayValue else {
                throw CoreMLRunError.evalMismatch("output \(outName) is not a multi-array")
            }
            outShape = result.shape.map(\.intValue)
            for i in 0..<result.count {
                var v = result[i].floatValue.bitPattern.littleEndian
                withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
            }
        }
        try out.write(to: files.outputsURL(name), options: .atomic)
        return ("results/\(name).outputs.f32", [eval.count] + outShape)
    }
}

/// Thermal states seen while timing, appended from the loop's sampler.
final class ThermalLog: @unchecked Sendable {
    private(set) var states: [String] = []
    func append(_ s: String) { states.append(s) }
}
#endif
