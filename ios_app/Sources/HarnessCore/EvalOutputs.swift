import Foundation

/// A model the evaluation pass can feed: one float32 sample in (the model's single input, batch 1), the first
/// output (by name) back with its shape. Core ML and TensorFlow Lite adapt to it on the phone; tests use a
/// plain function.
public protocol EvalModel {
    func predict(_ input: [Float], shape: [Int]) throws -> (values: [Float], shape: [Int])
}

public enum EvalError: Error, Equatable, CustomStringConvertible {
    case mismatch(String)

    public var description: String {
        switch self {
        case .mismatch(let s): return "evaluation inputs do not match the model: \(s)"
        }
    }
}

/// The evaluation pass: `count` raw little-endian float32 samples of the job's `eval`, each predicted, every
/// output appended to results/NAME.outputs.f32 (folders created, written atomically) for the host to score.
public enum EvalPass {
    /// The outputs' path relative to Documents (what `ios.outputs_path` carries) and their shape,
    /// `[count] + one output's shape`.
    public static func run(_ eval: EvalInputs, inputShape: [Int], files: JobFiles, name: String,
                           model: EvalModel) throws -> (path: String, shape: [Int]) {
        let per = eval.shape.reduce(1, *)
        guard per == inputShape.reduce(1, *), per > 0 else {
            throw EvalError.mismatch("shape \(eval.shape) vs the model's \(inputShape)")
        }
        guard eval.count > 0 else { throw EvalError.mismatch("count \(eval.count)") }
        let data = try Data(contentsOf: files.resolve(eval.path))
        guard data.count == eval.count * per * 4 else {
            throw EvalError.mismatch("\(data.count) bytes for \(eval.count) samples of \(per) floats")
        }
        var out = Data()
        var outShape: [Int]?
        for s in 0..<eval.count {
            let sample: [Float] = data.withUnsafeBytes { raw in
                (0..<per).map { i in
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: (s * per + i) * 4,
                                                                           as: UInt32.self)))
                }
            }
            let (values, shape) = try model.predict(sample, shape: inputShape)
            guard values.count == shape.reduce(1, *) else {
                throw EvalError.mismatch("an output of \(values.count) values for shape \(shape)")
            }
            if let seen = outShape, seen != shape {
                throw EvalError.mismatch("output shape changed from \(seen) to \(shape) at sample \(s)")
            }
            outShape = shape
            for v in values {
                var le = v.bitPattern.littleEndian
                withUnsafeBytes(of: &le) { out.append(contentsOf: $0) }
            }
        }
        let url = files.outputsURL(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try out.write(to: url, options: .atomic)
        return ("results/\(name).outputs.f32", [eval.count] + (outShape ?? []))
    }
}

/// Runs `body` inside an autorelease pool where Objective-C exists (the phone): each Core ML prediction's
/// autoreleased buffers are freed before the next one, as MLPerf's Core ML backend does, so memory does not
/// grow over thousands of timed runs. Elsewhere (Linux) there is no pool to drain.
@inline(__always)
public func drainingPool<T>(_ body: () throws -> T) rethrows -> T {
    #if canImport(ObjectiveC)
    return try autoreleasepool { try body() }
    #else
    return try body()
    #endif
}
