import Foundation

/// What the app does when launched with `--job NAME`: the names and files of that contract, kept here
/// (Foundation only) so Linux tests cover them; the Core ML part lives in HarnessIOS.
public enum Headless {
    /// The job name after `--job` (also `--job=NAME`); nil when the app was started normally.
    /// A name that could leave Documents/jobs (slashes, dots first, control characters) is refused.
    public static func jobName(arguments: [String]) throws -> String? {
        var value: String?
        for (i, arg) in arguments.enumerated() {
            if arg == "--job" {
                guard i + 1 < arguments.count else { throw HeadlessError.badName("--job needs a NAME") }
                value = arguments[i + 1]
            } else if arg.hasPrefix("--job=") {
                value = String(arg.dropFirst(6))
            }
        }
        guard let name = value else { return nil }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        guard !name.isEmpty, name.count <= 100, !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw HeadlessError.badName("job name must be 1-100 of A-Z a-z 0-9 - _ . (not starting with a dot)")
        }
        return name
    }
}

public enum HeadlessError: Error, Equatable, CustomStringConvertible {
    case badName(String)
    case badPath(String)

    public var description: String {
        switch self {
        case .badName(let s), .badPath(let s): return s
        }
    }
}

/// The app's Documents layout the host relies on: jobs/NAME.json in, results/NAME.json out (written
/// atomically, so the host never pulls half a file), models/ and eval inputs where the job points.
public struct JobFiles: Sendable {
    public let documents: URL

    public init(documents: URL) {
        self.documents = documents
    }

    public func jobURL(_ name: String) -> URL { documents.appendingPathComponent("jobs/\(name).json") }
    public func resultURL(_ name: String) -> URL { documents.appendingPathComponent("results/\(name).json") }
    public func outputsURL(_ name: String) -> URL { documents.appendingPathComponent("results/\(name).outputs.f32") }
    /// The host's Ctrl-C for a sustained loop: jobs/NAME.stop appears, the loop ends at its next window.
    public func stopURL(_ name: String) -> URL { documents.appendingPathComponent("jobs/\(name).stop") }
    public func stopRequested(_ name: String) -> Bool { FileManager.default.fileExists(atPath: stopURL(name).path) }

    /// A job's relative path (model_path, eval.path) inside Documents; absolute paths and `..` are refused.
    public func resolve(_ relative: String) throws -> URL {
        let parts = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !relative.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            throw HeadlessError.badPath("path \(relative.prefix(100)) must stay inside Documents")
        }
        return documents.appendingPathComponent(relative)
    }

    public func readJob(_ name: String) throws -> BenchJob {
        try JSONDecoder().decode(BenchJob.self, from: Data(contentsOf: jobURL(name)))
    }

    /// Write the result next to a temporary name, then move it into place.
    public func write(_ result: RunnerResult, name: String) throws {
        let url = resultURL(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(name).json.tmp")
        try result.jsonData().write(to: tmp)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: tmp, to: url)
    }

    /// Names of the jobs in Documents/jobs and whether each has a result: what the Jobs screen lists.
    public func listJobs() -> [(name: String, hasResult: Bool)] {
        let dir = documents.appendingPathComponent("jobs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted().map {
            ($0, FileManager.default.fileExists(atPath: resultURL($0).path))
        }
    }
}

/// Deterministic input data from the job's seed (SplitMix64): the same job feeds the same numbers on
/// every run; values in [0, 1) as the runner's float inputs.
public struct SeededRandom: Sendable {
    private var state: UInt64

    public init(seed: Int) { state = UInt64(bitPattern: Int64(seed)) &+ 0x9E37_79B9_7F4A_7C15 }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

/// The summary the Jobs screen shows for a result (the host computes the real statistics).
public func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
