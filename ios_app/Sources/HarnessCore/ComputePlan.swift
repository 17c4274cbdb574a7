import Foundation

/// A compute device as MLComputePlan names it (MLComputeDevice: .cpu, .gpu, .neuralEngine).
public enum ComputeDeviceKind: String, Codable, CaseIterable, Sendable {
    case cpu, gpu, neuralEngine = "neural_engine"
}

/// One operation of the model's program as MLComputePlan placed it: its preferred device (nil for ops with
/// no device usage, such as constants) and the devices that support it.
public struct PlannedOp: Equatable, Sendable {
    public var name: String
    public var preferred: ComputeDeviceKind?
    public var supported: [ComputeDeviceKind]

    public init(name: String, preferred: ComputeDeviceKind?, supported: [ComputeDeviceKind]) {
        self.name = name
        self.preferred = preferred
        self.supported = supported
    }
}

/// An op the compute units allowed on an accelerator that Core ML put on the CPU.
public struct FellBackOp: Codable, Equatable, Sendable {
    public var op: String
    public var supported: [ComputeDeviceKind]

    public init(op: String, supported: [ComputeDeviceKind]) {
        self.op = op
        self.supported = supported
    }
}

/// Where Core ML ran the model's ops (`ios.compute_plan` in the result): per-device counts from MLComputePlan
/// (iOS 17.4+), and the ops that fell back to the CPU; on older iOS `available` is false and `reason` says so.
public struct ComputePlanReport: Codable, Equatable, Sendable {
    public static let maxListed = 50

    public var available: Bool
    public var reason: String?
    public var opsTotal: Int?
    /// Ops per preferred device: cpu, gpu, neural_engine (every key written, 0 when none).
    public var opsByDevice: [String: Int]?
    /// Ops without a device usage (constants and the like): not placed on any device.
    public var opsUnplaced: Int?
    public var fellBackCount: Int?
    /// The first `maxListed` ops that fell back to the CPU, in program order.
    public var fellBack: [FellBackOp]?

    enum CodingKeys: String, CodingKey {
        case available, reason, opsTotal = "ops_total", opsByDevice = "ops_by_device"
        case opsUnplaced = "ops_unplaced", fellBackCount = "fell_back_count", fellBack = "fell_back_to_cpu"
    }

    public init(available: Bool, reason: String?, opsTotal: Int?, opsByDevice: [String: Int]?, opsUnplaced: Int?,
                fellBackCount: Int?, fellBack: [FellBackOp]?) {
        self.available = available
        self.reason = reason
        self.opsTotal = opsTotal
        self.opsByDevice = opsByDevice
        self.opsUnplaced = opsUnplaced
        self.fellBackCount = fellBackCount
        self.fellBack = fellBack
    }

    /// Every key written, nulls included, so the JSON has one shape whether or not the plan was read.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(available, forKey: .available)
        try c.encode(reason, forKey: .reason)
        try c.encode(opsTotal, forKey: .opsTotal)
        try c.encode(opsByDevice, forKey: .opsByDevice)
        try c.encode(opsUnplaced, forKey: .opsUnplaced)
        try c.encode(fellBackCount, forKey: .fellBackCount)
        try c.encode(fellBack, forKey: .fellBack)
    }

    /// Not read: the reason (iOS older than 17.4, or the plan failed to load), and no count filled in.
    public static func notAvailable(_ reason: String) -> ComputePlanReport {
        ComputePlanReport(available: false, reason: String(reason.prefix(300)), opsTotal: nil, opsByDevice: nil,
                          opsUnplaced: nil, fellBackCount: nil, fellBack: nil)
    }

    /// The plan's ops counted by preferred device. An op "fell back" when the job's compute units allowed an
    /// accelerator (anything but cpuOnly) and Core ML still prefers the CPU for it.
    public static func summarise(_ ops: [PlannedOp], units: ComputeUnits) -> ComputePlanReport {
        var counts = Dictionary(uniqueKeysWithValues: ComputeDeviceKind.allCases.map { ($0.rawValue, 0) })
        var unplaced = 0
        var fell: [FellBackOp] = []
        var fellCount = 0
        for op in ops {
            guard let p = op.preferred else {
                unplaced += 1
                continue
            }
            counts[p.rawValue, default: 0] += 1
            if p == .cpu && units != .cpuOnly {
                fellCount += 1
                if fell.count < maxListed { fell.append(FellBackOp(op: op.name, supported: op.supported)) }
            }
        }
        return ComputePlanReport(available: true, reason: nil, opsTotal: ops.count, opsByDevice: counts,
                                 opsUnplaced: unplaced, fellBackCount: fellCount, fellBack: fell)
    }
}
