import Foundation

/// A measurement as /api/events carries it (job_finished's `measurement`): what a result card shows.
public struct LiveMeasurement: Codable, Equatable, Sendable {
    public var runId: String
    public var device: String
    public var model: String
    public var modelLabel: String?
    public var variant: String
    public var status: String
    public var error: String?
    public var p50Us: Double?
    public var p90Us: Double?
    public var p99Us: Double?
    public var cv: Double?
    public var runs: Int?
    public var sizeBytes: Int?
    public var peakRssMb: Double?
    public var energyPerInferenceMj: Double?
    public var tempMaxC: Double?
    public var accuracy: Accuracy?
    public var valid: Bool?
    public var flags: [String]?

    public struct Accuracy: Codable, Equatable, Sendable {
        public var name: String
        public var value: Double
    }

    enum CodingKeys: String, CodingKey {
        case runId = "run_id", device, model, modelLabel = "model_label", variant, status, error
        case p50Us = "p50_us", p90Us = "p90_us", p99Us = "p99_us", cv, runs, sizeBytes = "size_bytes"
        case peakRssMb = "peak_rss_mb", energyPerInferenceMj = "energy_per_inference_mj"
        case tempMaxC = "temp_max_c", accuracy, valid, flags
    }

    public var key: String { "\(device)|\(model)|\(variant)" }
    public var title: String { "\(modelLabel ?? model) · \(variant)" }

    /// The card's headline as the live page writes it: µs under 100 µs, else ms.
    public var headline: String {
        guard status == "ok", let p50 = p50Us else { return error ?? "error" }
        return p50 < 100 ? String(format: "%.1f µs p50", p50) : String(format: "%.2f ms p50", p50 / 1000)
    }

    /// The card's second line: p90, p99, CV, runs, size, accuracy, energy.
    public var details: String {
        guard status == "ok" else { return "" }
        var parts: [String] = []
        if let p90Us { parts.append(String(format: "p90 %.2f ms", p90Us / 1000)) }
        if let p99Us { parts.append(String(format: "p99 %.2f ms", p99Us / 1000)) }
        if let cv { parts.append(String(format: "CV %.1f%%", cv * 100)) }
        if let runs { parts.append("\(runs) runs") }
        if let sizeBytes { parts.append(LiveMeasurement.size(sizeBytes)) }
        if let accuracy { parts.append("\(accuracy.name) \(String(format: "%.4g", accuracy.value))") }
        if let e = energyPerInferenceMj { parts.append(String(format: "%.3g mJ", e)) }
        return parts.joined(separator: " · ")
    }

    static func size(_ b: Int) -> String {
        b >= 1 << 20 ? String(format: "%.1f MB", Double(b) / 1048576) : String(format: "%.1f kB", Double(b) / 1024)
    }
}

/// The state the Live screen renders, built only from /api/events: the run followed, its progress,
/// what is happening now, and one card per (device, model, variant), newest first.
public struct LiveState: Equatable, Sendable {
    public var runId: String?
    public var status: String = "idle"
    public var total: Int?
    public var current: String = "idle"
    public private(set) var cards: [LiveMeasurement] = []
    public var lastEventId: String?
    public var ignored = 0  // events of kinds this app does not know (newer servers): counted, not fatal

    public init() {}

    public var done: Int { cards.count }
    public var errors: Int { cards.filter { $0.status != "ok" }.count }
    public var progressText: String {
        (total.map { "\(done) / \($0)" } ?? "\(done)") + " done" + (errors > 0 ? " · \(errors) errors" : "")
    }

    /// Apply one event; a malformed payload throws (the caller shows it) and leaves the state as it was.
    public mutating func apply(_ ev: SSEEvent) throws {
        let payload = Data(ev.data.utf8)
        let dec = JSONDecoder()
        func short(_ model: String) -> String { String(model.split(separator: "/").last ?? Substring(model)) }
        switch ev.event {
        case "run_started":
            struct P: Decodable { let run_id: String; let total: Int? }
            let p = try dec.decode(P.self, from: payload)
            if p.run_id != runId { cards = [] }
            runId = p.run_id
            total = p.total
            status = "running"
        case "convert_started":
            struct P: Decodable { let model: String; let variant: String; let index: Int; let total: Int }
            let p = try dec.decode(P.self, from: payload)
            current = "converting \(short(p.model)) · \(p.variant) (\(p.index + 1)/\(p.total))"
        case "convert_finished", "probe_finished":
            break
        case "job_started":
            struct P: Decodable { let device: String; let model: String; let variant: String }
            let p = try dec.decode(P.self, from: payload)
            current = "measuring \(p.device) · \(short(p.model)) · \(p.variant)"
        case "job_finished":
            struct P: Decodable { let measurement: LiveMeasurement }
            let m = try dec.decode(P.self, from: payload).measurement
            if runId == nil || m.runId != runId {  // a run we joined late, or a new one: follow it
                runId = m.runId
                cards = []
                if status == "idle" { status = "running" }
            }
            cards.removeAll { $0.key == m.key }
            cards.insert(m, at: 0)
        case "run_finished":
            struct P: Decodable { let run_id: String; let status: String? }
            let p = try dec.decode(P.self, from: payload)
            if p.run_id == runId || runId == nil {
                runId = p.run_id
                status = p.status ?? "finished"
                current = "idle"
            }
        default:
            ignored += 1
        }
        if let id = ev.id { lastEventId = id }
    }
}
