// Launched with `--job NAME` (the host does this over DVT), the app runs that job and exits.
// Compiled only with UIKit + Core ML (iOS); on Linux this file is empty. Not compiled or tested here.
#if canImport(UIKit) && canImport(CoreML) && canImport(SwiftUI)
import Foundation
import HarnessCore
import SwiftUI
import UIKit

@MainActor
public final class HeadlessController: ObservableObject {
    @Published public private(set) var status: String?

    public init() {}

    public static var documents: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    public static func probes() -> RunProbes {
        RunProbes(thermalState: { DeviceProbes.thermalState() },
                  battery: { await MainActor.run { DeviceProbes.battery() } },
                  physFootprintMb: { DeviceProbes.physFootprintMb() },
                  machine: { DeviceProbes.machine() })
    }

    /// Run the job named on the command line, if any, off the main thread (the launch watchdog kills an
    /// app whose main thread blocks), keep the screen awake meanwhile, then exit so the host sees it end.
    public func runIfRequested(arguments: [String] = CommandLine.arguments) async {
        let files = JobFiles(documents: Self.documents)
        let name: String?
        do {
            name = try Headless.jobName(arguments: arguments)
        } catch {
            status = "bad --job: \(error)"
            return
        }
        guard let name else { return }
        status = "running job \(name)"
        UIApplication.shared.isIdleTimerDisabled = true
        let runner = CoreMLRunner(files: files, probes: Self.probes())
        let result = await Task.detached(priority: .userInitiated) { await runner.runAndWrite(name: name) }.value
        UIApplication.shared.isIdleTimerDisabled = false
        if case .failure(let err) = result { status = "job \(name) failed: \(err.error)" }
        exit(0)
    }
}
#endif
