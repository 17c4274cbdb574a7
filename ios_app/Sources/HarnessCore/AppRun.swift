import Foundation

/// The delegate asked for and the one that ran. A delegate the runtime refused (the job then ran on CPU
/// kernels) is never reported as running: `ran` is "none" and `error` says why, as rpi/runner.py does.
public struct DelegateOutcome: Equatable, Sendable {
    public let requested: String
    public let ran: String
    public let error: String?

    public init(requested: String, ran: String, error: String?) {
        self.requested = requested
        self.ran = ran
        self.error = error
    }

    /// The runtime took the requested delegate. "cpu" and "none" mean the plain CPU kernels: "none".
    public static func applied(_ requested: String) -> DelegateOutcome {
        DelegateOutcome(requested: requested, ran: ["cpu", "none"].contains(requested) ? "none" : requested,
                        error: nil)
    }

    /// The runtime refused it (no such delegate on this phone, or it failed on the graph): CPU kernels ran.
    public static func refused(_ requested: String, because error: String) -> DelegateOutcome {
        DelegateOutcome(requested: requested, ran: "none", error: String(error.prefix(300)))
    }
}

/// phys_footprint readings around the timed loop, MB: before it, right after it (current and the ledger's peak).
public struct FootprintReadings: Equatable, Sendable {
    public var beforeMb: Double?
    public var afterMb: Double?
    public var peakMb: Double?

    public init(beforeMb: Double?, afterMb: Double?, peakMb: Double?) {
        self.beforeMb = beforeMb
        self.afterMb = afterMb
        self.peakMb = peakMb
    }

    /// peak - before, rounded as the runner rounds; nil when either was not read.
    public var peakDeltaMb: Double? {
        guard let p = peakMb, let b = beforeMb else { return nil }
        return pythonRound(p - b, 3)
    }
}

/// What one app run measured, put together into the runner's result shape (the iOS block under "ios").
public struct AppRunFacts: Sendable {
    public var runtime: String
    public var runtimeVersion: String
    public var machine: String
    public var delegate: DelegateOutcome
    public var initUs: Double
    public var inputs: [InputInfo]
    public var loop: LoopOutcome
    public var footprint: FootprintReadings
    public var ios: IosExtras?
    public var sustained: SustainedOutcome?

    public init(runtime: String, runtimeVersion: String, machine: String, delegate: DelegateOutcome, initUs: Double,
                inputs: [InputInfo], loop: LoopOutcome, footprint: FootprintReadings, ios: IosExtras?,
                sustained: SustainedOutcome? = nil) {
        self.runtime = runtime
        self.runtimeVersion = runtimeVersion
        self.machine = machine
        self.delegate = delegate
        self.initUs = initUs
        self.inputs = inputs
        self.loop = loop
        self.footprint = footprint
        self.ios = ios
        self.sustained = sustained
    }

    /// The result JSON's fields: the delegate that ran (never only the requested one), memory rounded as the
    /// runner's, op counts and clock samples empty because the app does not read them (not measured: nil / []).
    public func result(for job: BenchJob) -> OkResult {
        var ios = self.ios
        if let err = delegate.error { ios?.delegateError = err }
        return OkResult(runtime: runtime, runtimeVersion: runtimeVersion, python: nil, machine: machine,
                        modelPath: job.modelPath, threads: job.threads, delegateRequested: delegate.requested,
                        delegate: delegate.ran, initUs: initUs, opsTotal: nil, opsDelegated: nil,
                        opsOnCpuKernels: [], inputs: inputs, loop: loop, peakRssDeltaMb: footprint.peakDeltaMb,
                        peakRssMb: footprint.peakMb.map { pythonRound($0, 3) },
                        endRssMb: footprint.afterMb.map { pythonRound($0, 3) },
                        temperatures: [], cpuFreq: [], ios: ios, sustained: sustained)
    }
}

/// Runs one job the app was launched with: the job file read (a bad one gets an error result naming the file
/// and the field), the runner chosen by the model's kind, and a result written in every case, so the host
/// never waits for a result that will not come.
public enum HeadlessJob {
    public typealias Runner = @Sendable (BenchJob, String) async throws -> OkResult

    @discardableResult
    public static func runAndWrite(name: String, files: JobFiles, run: Runner) async -> RunnerResult {
        let result: RunnerResult
        do {
            let job = try files.readJob(name)
            result = .ok(try await run(job, name))
        } catch {
            result = .failure(errorResult(error, job: "jobs/\(name).json"))
        }
        do {
            try files.write(result, name: name)
        } catch {
            NSLog("harness: cannot write result %@: %@", name, "\(error)")
        }
        return result
    }

    /// "Type: message" as the runner writes "ValueError: ..."; a job that does not decode names its field.
    public static func errorResult(_ error: Error, job: String) -> ErrorResult {
        if let d = error as? DecodingError {
            return ErrorResult(error: "ValueError: \(job): \(describe(d))", traceback: "")
        }
        if (error as NSError).domain == NSCocoaErrorDomain, (error as NSError).code == NSFileReadNoSuchFileError {
            return ErrorResult(error: "FileNotFoundError: \(job) is not in Documents", traceback: "")
        }
        return ErrorResult(error: "\(type(of: error)): \(error)", traceback: "")
    }

    /// One line naming the field as the job wrote it (snake_case keys), never the decoder's whole dump.
    public static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "\(path(ctx.codingPath + [key])) is missing"
        case .typeMismatch(let type, let ctx):
            return "\(path(ctx.codingPath)) must be \(type)"
        case .valueNotFound(let type, let ctx):
            return "\(path(ctx.codingPath)) must be \(type), not null"
        case .dataCorrupted(let ctx):
            let at = path(ctx.codingPath)
            return at.isEmpty ? "not valid JSON" : "\(at): \(ctx.debugDescription.prefix(120))"
        @unknown default:
            return "unreadable"
        }
    }
}
