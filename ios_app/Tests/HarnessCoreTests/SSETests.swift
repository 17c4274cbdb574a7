import Foundation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import HarnessCore

/// What Python reads from contracts/events/run.sse, to compare the Swift parser against.
private func goldenRecords(_ text: String) -> [(id: String?, event: String, data: String)] {
    var out: [(String?, String, String)] = []
    for block in text.components(separatedBy: "\n\n") {
        var id: String?, event = "message", data: [String] = []
        for line in block.split(separator: "\n") where !line.hasPrefix(":") {
            if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        if !data.isEmpty { out.append((id, event, data.joined(separator: "\n"))) }
    }
    return out
}

final class SSEParserTests: XCTestCase {
    func testRecordedStreamParsesToItsEventsAndIds() throws {
        let data = try Contracts.data("events/run.sse")
        var parser = SSEParser()
        let events = parser.feed(data)
        let golden = goldenRecords(String(decoding: data, as: UTF8.self))
        XCTAssertGreaterThanOrEqual(events.count, 3)
        XCTAssertEqual(events.count, golden.count)
        for (e, g) in zip(events, golden) {
            XCTAssertEqual(e.id, g.id)
            XCTAssertEqual(e.event, g.event)
            XCTAssertEqual(e.data, g.data)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(e.data.utf8)))
        }
        XCTAssertEqual(parser.retryMs, 2000)
        XCTAssertEqual(parser.lastEventId, golden.last?.id)
        XCTAssertEqual(events.map(\.event).last, "run_finished")
    }

    func testByteByByteFeedingGivesTheSameEvents() throws {
        let data = try Contracts.data("events/run.sse")
        var whole = SSEParser()
        let expected = whole.feed(data)
        var parser = SSEParser()
        var got: [SSEEvent] = []
        for b in data { got += parser.feed(Data([b])) }
        XCTAssertEqual(got, expected)
    }

    func testCRLFAndCRLineEndsIncludingSplitCRLF() {
        var p = SSEParser()
        var got = p.feed("id: 7\r\nevent: a\r\ndata: x\r")
        got += p.feed("\n\r\n")  // the LF completing a CRLF arrives in the next chunk
        got += p.feed("data: y\rdata: z\r\r")
        XCTAssertEqual(got, [SSEEvent(id: "7", event: "a", data: "x"), SSEEvent(id: "7", event: "message", data: "y\nz")])
    }

    func testSpecRules() {
        var p = SSEParser()
        // one space dropped after the colon, a second kept; a field with no colon; comments; empty data.
        let got = p.feed(": hi\ndata:  two\ndata\n\nevent: only-type\n\nid\ndata:x\n\nretry: 12a\nretry: 500\n\n")
        XCTAssertEqual(got, [SSEEvent(id: nil, event: "message", data: " two\n"),
                             SSEEvent(id: "", event: "message", data: "x")])
        XCTAssertEqual(p.retryMs, 500)
    }

    func testHalfEventIsDroppedOnReset() {
        var p = SSEParser()
        XCTAssertEqual(p.feed("id: 9\ndata: partial\n"), [])
        p.reset()
        XCTAssertEqual(p.feed("\n"), [])
        XCTAssertEqual(p.lastEventId, "9")  // the id line was complete, so it counts for resuming
    }

    func testIdWithNulIsIgnored() {
        var p = SSEParser(lastEventId: "4")
        _ = p.feed("id: 5\u{0}\ndata: x\n\n")
        XCTAssertEqual(p.lastEventId, "4")
    }
}

final class ReconnectTests: XCTestCase {
    func testEndpointFromPastedUrlKeepsTokenOutOfTheUrl() throws {
        let ep = try XCTUnwrap(LiveEndpoint.parse(" http://192.168.1.5:8765/?token=abc123 "))
        XCTAssertEqual(ep.token, "abc123")
        let req = ep.eventsRequest(lastEventId: nil)
        XCTAssertEqual(req.url?.absoluteString, "http://192.168.1.5:8765/api/events")
        XCTAssertEqual(req.value(forHTTPHeaderField: "Authorization"), "Bearer abc123")
        XCTAssertEqual(req.value(forHTTPHeaderField: "Accept"), "text/event-stream")
        XCTAssertNil(req.value(forHTTPHeaderField: "Last-Event-ID"))
    }

    func testTypedTokenWinsAndBadUrlsAreRefused() {
        XCTAssertEqual(LiveEndpoint.parse("http://h:1/?token=a", token: "b")?.token, "b")
        XCTAssertEqual(LiveEndpoint.parse("http://h:1", token: "  ")?.token, nil)
        XCTAssertNil(LiveEndpoint.parse("ftp://h/"))
        XCTAssertNil(LiveEndpoint.parse("not a url"))
    }

    func testResumeSendsTheLastIdTheParserSaw() throws {
        var p = SSEParser()
        _ = p.feed(try Contracts.data("events/run.sse"))
        let ep = LiveEndpoint(baseURL: URL(string: "http://127.0.0.1:8765")!, token: nil)
        let req = ep.eventsRequest(lastEventId: p.lastEventId)
        XCTAssertEqual(req.value(forHTTPHeaderField: "Last-Event-ID"), p.lastEventId)
        XCTAssertNotNil(p.lastEventId)
        XCTAssertNil(req.value(forHTTPHeaderField: "Authorization"))
    }

    func testPolicyUsesServerRetryBacksOffAndStopsOnAuth() {
        var pol = ReconnectPolicy(baseDelayMs: 1000, maxDelayMs: 5000)
        XCTAssertEqual(pol.next(after: .streamEnded, retryMs: 2000), .reconnect(afterMs: 2000))
        XCTAssertEqual(pol.next(after: .failed(status: nil), retryMs: nil), .reconnect(afterMs: 1000))
        XCTAssertEqual(pol.next(after: .failed(status: 503), retryMs: nil), .reconnect(afterMs: 2000))
        XCTAssertEqual(pol.next(after: .failed(status: nil), retryMs: nil), .reconnect(afterMs: 4000))
        XCTAssertEqual(pol.next(after: .failed(status: nil), retryMs: nil), .reconnect(afterMs: 5000))
        XCTAssertEqual(pol.next(after: .streamEnded, retryMs: nil), .reconnect(afterMs: 1000))  // success resets
        XCTAssertEqual(pol.next(after: .failed(status: nil), retryMs: nil), .reconnect(afterMs: 1000))
        guard case .stop(let why) = pol.next(after: .failed(status: 401), retryMs: nil) else {
            return XCTFail("401 must stop")
        }
        XCTAssertTrue(why.contains("token"))
    }
}

final class LiveStateTests: XCTestCase {
    func testRecordedStreamBuildsTheCards() throws {
        var p = SSEParser()
        var state = LiveState()
        for ev in p.feed(try Contracts.data("events/run.sse")) { try state.apply(ev) }
        XCTAssertEqual(state.cards.count, 1)
        let card = try XCTUnwrap(state.cards.first)
        XCTAssertEqual(card.device, "local")
        XCTAssertEqual(card.variant, "fp32")
        XCTAssertEqual(card.status, "ok")
        XCTAssertEqual(state.status, "finished")
        XCTAssertEqual(state.current, "idle")
        XCTAssertEqual(state.runId, card.runId)
        XCTAssertEqual(state.lastEventId, p.lastEventId)
        XCTAssertTrue(card.headline.hasSuffix("p50"))
        XCTAssertTrue(state.progressText.hasPrefix("1"))
    }

    func testSameJobReplacesItsCardAndErrorsCount() throws {
        var state = LiveState()
        func fin(_ status: String, _ p50: String) -> SSEEvent {
            SSEEvent(id: nil, event: "job_finished", data: """
            {"measurement": {"run_id": "r1", "device": "d", "model": "m", "variant": "v", "status": "\(status)",
             "error": \(status == "ok" ? "null" : "\"boom\""), "p50_us": \(p50)}}
            """)
        }
        try state.apply(SSEEvent(id: "1", event: "run_started", data: #"{"run_id": "r1", "total": 2}"#))
        try state.apply(fin("error", "null"))
        XCTAssertEqual(state.errors, 1)
        try state.apply(fin("ok", "2500.0"))
        XCTAssertEqual(state.cards.count, 1)
        XCTAssertEqual(state.errors, 0)
        XCTAssertEqual(state.cards[0].headline, "2.50 ms p50")
        XCTAssertEqual(state.progressText, "1 / 2 done")
    }

    func testMalformedPayloadThrowsAndUnknownKindsAreCounted() throws {
        var state = LiveState()
        XCTAssertThrowsError(try state.apply(SSEEvent(id: "1", event: "job_finished", data: "{")))
        try state.apply(SSEEvent(id: "2", event: "something_new", data: "{}"))
        XCTAssertEqual(state.ignored, 1)
        XCTAssertEqual(state.lastEventId, "2")
    }
}
