// The Live screen: follow a `harness serve` URL over /api/events, cards like the live page.
// Compiled only with SwiftUI (iOS and macOS); on Linux this file is empty. Not compiled or tested here
// (iOS-only modifiers sit behind os(iOS); tests/test_companion_apps.py checks that statically):
// the parser, reconnect policy and LiveState it renders are HarnessCore, tested with `swift test`.
#if canImport(SwiftUI)
import Foundation
import HarnessCore
import SwiftUI

@MainActor
public final class LiveViewModel: ObservableObject {
    @Published public private(set) var state = LiveState()
    @Published public private(set) var connection = "not connected"
    @Published public private(set) var lastError: String?
    private var client: SSEClient?

    public init() {}

    /// The token is held in memory only: never written to disk or logs.
    public func connect(url: String, token: String) {
        guard let endpoint = LiveEndpoint.parse(url, token: token) else {
            lastError = "enter the http(s) URL harness serve printed"
            return
        }
        lastError = nil
        client?.stop()
        let c = SSEClient(endpoint: endpoint, lastEventId: state.lastEventId,
                          onState: { [weak self] s in Task { @MainActor in self?.connection = s } },
                          onEvent: { [weak self] ev in Task { @MainActor in self?.apply(ev) } })
        client = c
        c.start()
    }

    public func disconnect() {
        client?.stop()
        client = nil
        connection = "not connected"
    }

    private func apply(_ ev: SSEEvent) {
        do {
            try state.apply(ev)
        } catch {
            lastError = "could not read a \(ev.event) event: \(error)"
        }
    }
}

public struct LiveView: View {
    @StateObject private var model = LiveViewModel()
    @State private var url = ""
    @State private var token = ""

    public init() {}

    public var body: some View {
        NavigationStack {
            List {
                Section("Server") {
                    TextField("http://192.168.1.5:8765/?token=…", text: $url)
                        .urlEntry()
                    SecureField("token (when not in the URL)", text: $token)
                    HStack {
                        Button("Follow") { model.connect(url: url, token: token) }
                        Button("Stop", role: .cancel) { model.disconnect() }
                        Spacer()
                        Text(model.connection).font(.caption).foregroundStyle(.secondary)
                    }
                    if let e = model.lastError {
                        Text(e).font(.caption).foregroundStyle(.red)
                    }
                }
                Section("Run") {
                    VStack(alignment: .leading, spacing: 4) {
                        Text(model.state.runId ?? "waiting for a run").font(.headline.monospaced())
                        Text("\(model.state.status) · \(model.state.progressText)")
                        Text(model.state.current).font(.caption).foregroundStyle(.secondary)
                    }
                }
                Section("Results") {
                    if model.state.cards.isEmpty {
                        Text("No results yet").foregroundStyle(.secondary)
                    }
                    ForEach(model.state.cards, id: \.key) { ResultCard(m: $0) }
                }
            }
            .navigationTitle("Live")
        }
    }
}

private extension View {
    /// A URL keyboard without capitalisation or autocorrection. keyboardType and textInputAutocapitalization
    /// exist on iOS only: this file also builds for macOS (`swift build` on a Mac), so they sit behind os(iOS).
    @ViewBuilder
    func urlEntry() -> some View {
        #if os(iOS)
        self.keyboardType(.URL).textInputAutocapitalization(.never).autocorrectionDisabled()
        #else
        self.autocorrectionDisabled()
        #endif
    }
}

struct ResultCard: View {
    let m: LiveMeasurement

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            HStack {
                Text(m.title).font(.headline)
                Spacer()
                Text(m.device).font(.caption).foregroundStyle(.secondary)
            }
            Text(m.headline)
                .font(.title3.monospacedDigit())
                .foregroundStyle(m.status == "ok" ? (m.valid == false ? Color.orange : Color.primary) : Color.red)
            if !m.details.isEmpty {
                Text(m.details).font(.caption)
            }
            if let flags = m.flags, !flags.isEmpty {
                Text("⚠ " + flags.joined(separator: ", ")).font(.caption).foregroundStyle(.orange)
            }
        }
        .padding(.vertical, 2)
    }
}
#endif
