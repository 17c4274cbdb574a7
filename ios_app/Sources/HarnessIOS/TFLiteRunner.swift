// .tflite variants on the iPhone, only when the Xcode project adds the TensorFlowLiteSwift pod (optional,
// never needed for the Linux build). Without the pod the module is absent and this file is empty; the
// headless run then answers a .tflite job with an error result. Not compiled or tested here.
#if canImport(TensorFlowLite)
import Foundation
import HarnessCore
import TensorFlowLite

public struct TFLiteRunner {
    public let files: JobFiles

    public init(files: JobFiles) {
        self.files = files
    }

    public func run(name: String) throws -> OkResult {
        let job = try files.readJob(name)
        let clock = SystemClock()
        var options = Interpreter.Options()
        options.threadCount = job.threads
        let t0 = clock.nowNanoseconds()
        let interpreter = try Interpreter(modelPath: try files.resolve(job.modelPath).path, options: options)
        try interpreter.allocateTensors()
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
        return OkResult(runtime: "tensorflowlite-swift", runtimeVersion: "pod", python: nil, machine: "iPhone",
                        modelPath: job.modelPath, threads: job.threads, delegateRequested: job.delegate,
                        // Not read from the graph here (no node list in TensorFlowLiteSwift): the job's delegate.
                        delegate: job.delegate, initUs: initUs,
                        opsTotal: nil, opsDelegated: nil, opsOnCpuKernels: [], inputs: infos, loop: loop,
                        peakRssDeltaMb: nil, peakRssMb: nil, endRssMb: nil, temperatures: [], cpuFreq: [])
    }
}
#endif
