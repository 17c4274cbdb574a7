// The Jobs screen: the jobs the host pushed into Documents/jobs, their results, and a Run button.
// Compiled only with SwiftUI + UIKit + Core ML (iOS); on Linux this file is empty. Not compiled or tested here.
#if canImport(SwiftUI) && canImport(UIKit) && canImport(CoreML)
import Foundation
import HarnessCore
import SwiftUI

@MainActor
public final class JobsModel: ObservableObject {
    public struct Row: Identifiable {
        public let id: String
        public let summary: String
    }

    @Published public private(set) var rows: [Row] = []
    @Published public private(set) var running: String?
    let files = JobFiles(documents: HeadlessController.documents)

    public init() {}

    public func reload() {
        rows = files.listJobs().map { job in
            Row(id: job.name, summary: job.hasResult ? summary(job.name) : "not run yet")
        }
    }

    private func summary(_ name: String) -> String {
        guard let data = try? Data(contentsOf: files.resultURL(name)),
              let result = try? JSONDecoder().decode(RunnerResult.self, from: data) else { return "unreadable result" }
        switch result {
        case .failure(let e): return "error: \(e.error)"
        case .ok(let r):
            let p50 = median(r.latenciesUs).map { String(format: "%.2f ms p50", $0 / 1000) } ?? "-"
            return "\(p50) · \(r.latenciesUs.count) runs · \(r.ios?.computeUnits ?? "")"
        }
    }

    public func run(_ name: String) {
        running = name
        let runner = CoreMLRunner(files: files, probes: HeadlessController.probes())
        Task {
            _ = await Task.detached(priority: .userInitiated) { await runner.runAndWrite(name: name) }.value
            running = nil
            reload()
        }
    }
}

public struct JobsView: View {
    @StateObject private var model = JobsModel()

    public init() {}

    public var body: some View {
        NavigationStack {
            List(model.rows) { row in
                HStack {
                    VStack(alignment: .leading) {
                        Text(row.id).font(.body.monospaced())
                        Text(row.summary).font(.caption).foregroundStyle(.secondary)
                    }
                    Spacer()
                    if model.running == row.id {
                        ProgressView()
                    } else {
                        Button("Run") { model.run(row.id) }.disabled(model.running != nil)
                    }
                }
            }
            .overlay { if model.rows.isEmpty { Text("No jobs in Documents/jobs").foregroundStyle(.secondary) } }
            .navigationTitle("Jobs")
            .refreshable { model.reload() }
            .onAppear { model.reload() }
        }
    }
}

/// Live and Jobs side by side; the headless status, when a `--job` run is on, above both.
public struct RootView: View {
    @ObservedObject var headless: HeadlessController

    public init(headless: HeadlessController) {
        self.headless = headless
    }

    public var body: some View {
        if let status = headless.status {
            VStack(spacing: 12) {
                ProgressView()
                Text(status).font(.body.monospaced())
            }
        } else {
            TabView {
                LiveView().tabItem { Label("Live", systemImage: "waveform.path.ecg") }
                JobsView().tabItem { Label("Jobs", systemImage: "list.bullet") }
            }
        }
    }
}
#endif
