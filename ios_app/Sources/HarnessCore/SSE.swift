import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One dispatched server-sent event.
public struct SSEEvent: Equatable, Sendable {
    public var id: String?
    public var event: String
    public var data: String

    public init(id: String?, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }
}

/// An incremental text/event-stream parser following the WHATWG rules: lines end in LF, CR or CRLF
/// (a CRLF split across two chunks is one end), `:` lines are comments, one space after the colon is
/// dropped, `data` lines join with LF, a blank line dispatches, an event with no data is not dispatched,
/// `id` sets the last event id (ignored when it contains NUL) and `retry` takes digits only.
public struct SSEParser: Sendable {
    public private(set) var lastEventId: String?
    public private(set) var retryMs: Int?
    private var buffer: [UInt8] = []
    private var dataLines: [String] = []
    private var sawData = false
    private var eventType = ""
    private var pendingCR = false

    public init(lastEventId: String? = nil) {
        self.lastEventId = lastEventId
    }

    /// Feed raw bytes as they arrive; returns the events they complete.
    public mutating func feed(_ bytes: Data) -> [SSEEvent] {
        var out: [SSEEvent] = []
        for byte in bytes {
            if pendingCR {
                pendingCR = false
                if byte == 0x0A { continue }  // the LF of a CRLF
            }
            if byte == 0x0A || byte == 0x0D {
                pendingCR = byte == 0x0D
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll(keepingCapacity: true)
                if let ev = processLine(line) { out.append(ev) }
            } else {
                buffer.append(byte)
            }
        }
        return out
    }

    public mutating func feed(_ text: String) -> [SSEEvent] { feed(Data(text.utf8)) }

    /// The stream ended: a half-received event is dropped, as the spec says.
    public mutating func reset() {
        buffer.removeAll()
        dataLines.removeAll()
        sawData = false
        eventType = ""
        pendingCR = false
    }

    private mutating func processLine(_ raw: String) -> SSEEvent? {
        var line = Substring(raw)
        if line.first == "\u{FEFF}" { line = line.dropFirst() }
        if line.isEmpty { return dispatch() }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = line
            value = ""
        }
        switch field {
        case "event": eventType = String(value)
        case "data":
            dataLines.append(String(value))
            sawData = true
        case "id":
            if !value.contains("\u{0}") { lastEventId = String(value) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }), let ms = Int(value) { retryMs = ms }
        default: break
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer {
            dataLines.removeAll()
            sawData = false
            eventType = ""
        }
        guard sawData else { return nil }
        return SSEEvent(id: lastEventId, event: eventType.isEmpty ? "message" : eventType,
                        data: dataLines.joined(separator: "\n"))
    }
}

/// How the client reaches `harness serve`: the base URL and the token it may ask for.
public struct LiveEndpoint: Equatable, Sendable {
    public var baseURL: URL
    public var token: String?

    public init(baseURL: URL, token: String?) {
        self.baseURL = baseURL
        self.token = token
    }

    /// Parse what a user pastes: the URL `harness serve` prints (`http://host:port/?token=...`), or the bare
    /// host URL plus a token typed apart. A token in the URL wins over none typed; a typed one wins otherwise.
    public static func parse(_ text: String, token typed: String? = nil) -> LiveEndpoint? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard var comps = URLComponents(string: trimmed), let scheme = comps.scheme?.lowercased(),
              scheme == "http" || scheme == "https", comps.host?.isEmpty == false else { return nil }
        let fromURL = comps.queryItems?.first(where: { $0.name == "token" })?.value
        comps.queryItems = nil
        comps.path = ""
        comps.fragment = nil
        guard let base = comps.url else { return nil }
        let typedClean = typed?.trimmingCharacters(in: .whitespacesAndNewlines)
        let token = (typedClean?.isEmpty == false ? typedClean : nil) ?? fromURL
        return LiveEndpoint(baseURL: base, token: token)
    }

    /// The GET for /api/events: the token as a Bearer header (never in the URL, which ends up in logs),
    /// and Last-Event-ID when resuming, so the server replays only what was missed.
    public func eventsRequest(lastEventId: String?, timeout: TimeInterval = 3600) -> URLRequest {
        var req = URLRequest(url: baseURL.appendingPathComponent("api/events"), cachePolicy: .reloadIgnoringLocalCacheData,
                             timeoutInterval: timeout)
        req.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        req.setValue("no-cache", forHTTPHeaderField: "Cache-Control")
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let lastEventId, !lastEventId.isEmpty { req.setValue(lastEventId, forHTTPHeaderField: "Last-Event-ID") }
        return req
    }
}

/// What the client does after the stream ends: reconnect after the server's `retry:` delay (doubling on
/// repeated failures, capped), with the last event id seen; stop for good on 401 (wrong token).
public struct ReconnectPolicy: Equatable, Sendable {
    public var baseDelayMs: Int = 2000
    public var maxDelayMs: Int = 30000
    public private(set) var failures = 0

    public init(baseDelayMs: Int = 2000, maxDelayMs: Int = 30000) {
        self.baseDelayMs = baseDelayMs
        self.maxDelayMs = maxDelayMs
    }

    public enum Outcome: Equatable, Sendable {
        case streamEnded  // the server closed a stream that delivered events
        case failed(status: Int?)  // connect error (nil) or an HTTP status
    }

    public enum Decision: Equatable, Sendable {
        case reconnect(afterMs: Int)
        case stop(reason: String)
    }

    /// `retryMs`: the last `retry:` the server sent, which replaces the base delay.
    public mutating func next(after outcome: Outcome, retryMs: Int?) -> Decision {
        let base = retryMs ?? baseDelayMs
        switch outcome {
        case .streamEnded:
            failures = 0
            return .reconnect(afterMs: base)
        case .failed(let status):
            if status == 401 || status == 403 { return .stop(reason: "the server refused the token (HTTP \(status!))") }
            if let status, status == 404 { return .stop(reason: "no /api/events here (HTTP 404): is this a harness serve URL?") }
            failures += 1
            let delay = min(maxDelayMs, base << min(failures - 1, 10))
            return .reconnect(afterMs: delay)
        }
    }
}

/// Follows /api/events with URLSession, handing each event to `onEvent` and resuming with Last-Event-ID
/// after every disconnect. Runs on URLSession's delegate queue; `stop()` ends it.
public final class SSEClient: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    public let endpoint: LiveEndpoint
    private var parser: SSEParser
    private var policy = ReconnectPolicy()
    private var session: URLSession?
    private var delivered = false
    private var stopped = false
    private let lock = NSLock()
    private let onEvent: (SSEEvent) -> Void
    private let onState: (String) -> Void

    public init(endpoint: LiveEndpoint, lastEventId: String? = nil, onState: @escaping (String) -> Void = { _ in },
                onEvent: @escaping (SSEEvent) -> Void) {
        self.endpoint = endpoint
        self.parser = SSEParser(lastEventId: lastEventId)
        self.onEvent = onEvent
        self.onState = onState
    }

    public var lastEventId: String? { lock.withLock { parser.lastEventId } }

    public func start() {
        let s = URLSession(configuration: .default, delegate: self, delegateQueue: nil)
        lock.withLock { session = s; stopped = false }
        connect()
    }

    public func stop() {
        lock.withLock { stopped = true }
        session?.invalidateAndCancel()
    }

    private func connect() {
        let (req, s): (URLRequest, URLSession?) = lock.withLock {
            parser.reset()
            delivered = false
            return (endpoint.eventsRequest(lastEventId: parser.lastEventId), session)
        }
        onState("connecting")
        s?.dataTask(with: req).resume()
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                           completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status == 200 {
            onState("live")
            completionHandler(.allow)
        } else {
            completionHandler(.cancel)
            schedule(.failed(status: status))
        }
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let events: [SSEEvent] = lock.withLock {
            let evs = parser.feed(data)
            if !evs.isEmpty { delivered = true }
            return evs
        }
        events.forEach(onEvent)
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let status = (task.response as? HTTPURLResponse)?.statusCode, status != 200 { return }  // handled above
        let ended = lock.withLock { delivered }
        schedule(error == nil || ended ? .streamEnded : .failed(status: nil))
    }

    private func schedule(_ outcome: ReconnectPolicy.Outcome) {
        let decision: ReconnectPolicy.Decision? = lock.withLock {
            stopped ? nil : policy.next(after: outcome, retryMs: parser.retryMs)
        }
        switch decision {
        case .none: return
        case .stop(let reason)?:
            onState("stopped: \(reason)")
        case .reconnect(let ms)?:
            onState("reconnecting in \(ms) ms")
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) { [weak self] in
                guard let self, !self.lock.withLock({ self.stopped }) else { return }
                self.connect()
            }
        }
    }
}
