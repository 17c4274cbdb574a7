// live-follow: the app's SSE client on the command line, so tests (tests/test_ios_live_client.py) can run it
// against a real `harness serve`. Prints one JSON line per event ({"id", "event", "data"}) and state
// changes on stderr; exits 0 after --count events, 3 when the client stops for good (e.g. a wrong token).
//   live-follow --url http://127.0.0.1:8765/ [--token T] [--last-event-id N] [--count K] [--timeout S]
import Foundation
import HarnessCore

var options: [String: String] = [:]
var args = CommandLine.arguments.dropFirst()
while let key = args.popFirst() {
    guard key.hasPrefix("--"), let value = args.popFirst() else {
        FileHandle.standardError.write(Data("usage: live-follow --url URL [--token T] [--last-event-id N] [--count K]\n".utf8))
        exit(2)
    }
    options[String(key.dropFirst(2))] = value
}
guard let endpoint = LiveEndpoint.parse(options["url"] ?? "", token: options["token"]) else {
    FileHandle.standardError.write(Data("--url: not an http(s) URL\n".utf8))
    exit(2)
}
let count = Int(options["count"] ?? "1") ?? 1
let timeout = Double(options["timeout"] ?? "30") ?? 30
let done = DispatchSemaphore(value: 0)
let lock = NSLock()
var seen = 0
var code: Int32 = 0

let client = SSEClient(endpoint: endpoint, lastEventId: options["last-event-id"], onState: { state in
    FileHandle.standardError.write(Data("state: \(state)\n".utf8))
    if state.hasPrefix("stopped") {
        lock.withLock { code = 3 }
        done.signal()
    }
}, onEvent: { ev in
    let line: [String: Any] = ["id": ev.id ?? NSNull(), "event": ev.event, "data": ev.data]
    if let json = try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) {
        FileHandle.standardOutput.write(json + Data("\n".utf8))
    }
    let finished: Bool = lock.withLock {
        seen += 1
        return seen >= count
    }
    if finished { done.signal() }
})
client.start()
if done.wait(timeout: .now() + timeout) == .timedOut {
    FileHandle.standardError.write(Data("timed out after \(timeout) s with \(seen) events\n".utf8))
    code = 4
}
client.stop()
exit(lock.withLock { code })
