// Apple-only probes: ProcessInfo.thermalState, phys_footprint (task_vm_info), battery (UIDevice).
// Compiled only where UIKit exists (iOS); on Linux this file is empty. Not compiled or tested here.
#if canImport(UIKit) && canImport(Darwin)
import Darwin
import Foundation
import UIKit

public enum DeviceProbes {
    /// ProcessInfo.thermalState as the result JSON writes it.
    public static func thermalState() -> String {
        switch ProcessInfo.processInfo.thermalState {
        case .nominal: return "nominal"
        case .fair: return "fair"
        case .serious: return "serious"
        case .critical: return "critical"
        @unknown default: return "unknown"
        }
    }

    /// (current, peak) phys_footprint in MB from task_vm_info: the figure Xcode's memory gauge and jetsam use.
    public static func physFootprintMb() -> (current: Double, peak: Double)? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let kr = withUnsafeMutablePointer(to: &info) { ptr in
            ptr.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard kr == KERN_SUCCESS else { return nil }
        return (Double(info.phys_footprint) / 1_048_576, Double(info.ledger_phys_footprint_peak) / 1_048_576)
    }

    /// Battery level 0...1 (nil when unknown) and state; monitoring is switched on for the reading.
    /// UIDevice belongs to the main actor: call through `await MainActor.run { ... }` off the main thread.
    @MainActor
    public static func battery() -> (level: Double?, state: String) {
        let dev = UIDevice.current
        dev.isBatteryMonitoringEnabled = true
        let level = dev.batteryLevel < 0 ? nil : Double(dev.batteryLevel)
        let state: String
        switch dev.batteryState {
        case .unplugged: state = "unplugged"
        case .charging: state = "charging"
        case .full: state = "full"
        case .unknown: state = "unknown"
        @unknown default: state = "unknown"
        }
        return (level, state)
    }

    /// The hardware model identifier (e.g. iPhone15,2).
    public static func machine() -> String {
        var sys = utsname()
        uname(&sys)
        return withUnsafeBytes(of: &sys.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
}
#endif
