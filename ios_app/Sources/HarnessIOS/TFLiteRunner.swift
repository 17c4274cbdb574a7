// .tflite variants on the iPhone, only when the Xcode project adds the TensorFlowLiteSwift pod (optional,
// never needed for the Linux build; the CoreML and Metal delegates are its `TensorFlowLiteSwift/CoreML` and
// `/Metal` subspecs). Without the pod the module is absent and this file is empty; the headless run then
// answers a .tflite job with an error result. Not compiled or tested here: the delegate naming
// (DelegateOutcome) and the result assembly (AppRunFacts) it uses are HarnessCore, tested with `swift test`.
#if canImport(TensorFlowLite)
import Foundation
import HarnessCore
import TensorFlowLite

public struct TFLiteRunner {
    public let files: JobFiles
    public let probes: RunProbes

    public init(files: JobFiles, probes: RunProbes) {
        self.files = files
        self.probes = probes
    }

    /// The delegate the job asks for; nil for the plain CPU kernels. A delegate this phone cannot create
    /// (CoreMLDelegate returns nil without a Neural Engine) throws, and the job then runs on the CPU.
    private static func delegate(_ name: String) throws -> Delegate? {
        switch name {
        case "coreml":
            guard let d = CoreMLDelegate() else { throw TFLiteDelegateError.unavailable("CoreMLDelegate") }
            return d
        case "gpu", "metal":
            return MetalDelegate()
        default:
            return nil
        }
    }

    public func run(job: BenchJob, name: String) throws -> OkResult {
        let clock = SystemClock()
        let path = try files.resolve(job.modelPath).path
        let memBefore = probes.physFootprintMb()
        var options = Interpreter.Options()
        options.threadCount = job.threads
        options.isXNNPackEnabled = job.delegate == "xnnpack"
        let t0 = clock.nowNanoseconds()
        var outcome = DelegateOutcome.applied(job.delegate)
        let interpreter: Interpreter
        do {
            let delegates = try Self.delegate(job.delegate).map { [$0] } ?? []
            interpreter = try Interpreter(modelPath: path, options: options, delegates: delegates)
            try interpreter.allocateTensors()
        } catch {  // refused: measure on the CPU kernels and say so, never under the delegate's name
            outcome = .refused(job.delegate, because: "\(type(of: error)): \(error)")
            options.isXNNPackEnabled = false
            interpreter = try Interpreter(modelPath: path, options: options)
            try interpreter.allocateTensors()
        }
        let initUs = Double(clock.nowNanoseconds() - t0) / 1000.0
        var rng = SeededRandom(seed: job.seed)
        var infos: [InputInfo] = []
        for i in 0..<interpreter.inputTensorCount {
            let t = try interpreter.input(at: i)
            let floats = (0..<(t.data.count / 4)).map { _ in rng.nextFloat() }
            try interpreter.copy(floats.withUnsafeBufferPointer { Data(buffer: $0) }, toInputAt: i)
            infos.append(InputInfo(name: t.name, shape: t.shape.dimensions, dtype: "float32"))
        }
        let loop = try timedLoop(job.loop, clock: clock) { try interpreter.invoke() }
        let memAfter = probes.physFootprintMb()
        let facts = AppRunFacts(
            runtime: "tensorflowlite-swift", runtimeVersion: "pod", machine: probes.machine(), delegate: outcome,
            initUs: initUs, inputs: infos, loop: loop,
            footprint: FootprintReadings(beforeMb: memBefore?.current, afterMb: memAfter?.current,
                                         peakMb: memAfter?.peak),
            ios: IosExtras(computeUnits: "", thermalStateBefore: probes.thermalState(), thermalStatesDuring: [],
                           thermalStateAfter: probes.thermalState(), batteryLevelBefore: nil, batteryLevelAfter: nil,
                           batteryStateBefore: "unknown", batteryStateAfter: "unknown",
                           physFootprintMb: memAfter?.current, device: probes.machine(),
                           osVersion: ProcessInfo.processInfo.operatingSystemVersionString,
                           computePlan: .notAvailable("a .tflite job: MLComputePlan reads Core ML models only")))
        return facts.result(for: job)
    }
}

enum TFLiteDelegateError: Error, CustomStringConvertible {
    case unavailable(String)

    var description: String {
        switch self {
        case .unavailable(let d): return "\(d) is not available on this device"
        }
    }
}
#endif
