import Foundation
import XCTest
@testable import HarnessCore

struct SustainedCase: Decodable {
    struct Job: Decodable {
        let sustained_s: Double
        let window_s: Double
        let sample_interval_s: Double
    }
    struct Expected: Decodable {
        let first_inference_us: Double
        let runs: Int
        let latencies_us: [Double]
        let duration_s: Double
        let window_s: Double
        let windows: [[Double]]
        let timed_start_s: Double
        let interrupted: Bool
        let samples_taken: Int
        let total_invokes: Int
    }

    let name: String
    let job: Job
    let invoke_cost_us: [Double]
    let expected: Expected
}

/// Sustained mode in the app (rpi/runner.py `_sustained_loop`): the same windows at the same invokes,
/// a stop request kept, and the optional result keys written only when the job asked for it.
final class SustainedTests: XCTestCase {
    func testEveryGoldenSustainedCaseGivesTheRunnersWindows() throws {
        let cases = try JSONDecoder().decode([SustainedCase].self, from: Contracts.data("timed_loop/sustained.json"))
        XCTAssertGreaterThanOrEqual(cases.count, 3)
        for c in cases {
            let clock = FakeClock(costsUs: c.invoke_cost_us)
            var samples = 0
            var ends = 0
            let (loop, s) = sustainedLoop(
                sustainedS: c.job.sustained_s, windowS: c.job.window_s, sampleIntervalS: c.job.sample_interval_s,
                clock: clock, sample: { _ in samples += 1 }, windowEnd: { ends += 1; return "nominal" },
                invoke: clock.invoke)
            XCTAssertEqual(s.windows, c.expected.windows, c.name)
            XCTAssertEqual(s.windowS, c.expected.window_s, c.name)
            XCTAssertEqual(s.timedStartS, c.expected.timed_start_s, c.name)
            XCTAssertEqual(s.interrupted, c.expected.interrupted, c.name)
            XCTAssertEqual(loop.latenciesUs, c.expected.latencies_us, c.name)
            XCTAssertEqual(loop.durationS, c.expected.duration_s, c.name)
            XCTAssertEqual(loop.firstInferenceUs, c.expected.first_inference_us, c.name)
            XCTAssertEqual(loop.warmupRunsDone, 0, c.name)
            XCTAssertEqual(samples, c.expected.samples_taken, c.name)
            XCTAssertEqual(clock.invokes, c.expected.total_invokes, c.name)
            XCTAssertEqual(ends, s.windows.count, c.name)
            XCTAssertEqual(s.windowThermalStates.count, s.windows.count, c.name)
        }
    }

    func testAStopRequestEndsAtTheNextWindowAndKeepsWhatRan() {
        let clock = FakeClock(costsUs: [10_000])
        var asked = 0
        let (loop, s) = sustainedLoop(sustainedS: 60, windowS: 0.5, sampleIntervalS: 0.5, clock: clock,
                                      shouldStop: { asked += 1; return asked >= 3 }, invoke: clock.invoke)
        XCTAssertTrue(s.interrupted)
        XCTAssertEqual(s.windows.count, 3)  // asked only at window ends: three windows, then it stopped
        XCTAssertEqual(s.windows.last?[1], Double(loop.latenciesUs.count))  // every timed run is in a window
        XCTAssertEqual(loop.latenciesUs.count, 150)
        XCTAssertEqual(loop.durationS, 1.5, accuracy: 1e-9)
        XCTAssertTrue(s.windowThermalStates.isEmpty)  // no probe given: none written, never made up
    }

    func testAStopBetweenWindowsClosesThePartRunAsTheLastWindow() {
        let clock = FakeClock(costsUs: [10_000])
        var asked = 0
        let (loop, s) = sustainedLoop(sustainedS: 600, windowS: 30, sampleIntervalS: 0.5, clock: clock,
                                      windowEnd: { "fair" }, shouldStop: { asked += 1; return asked >= 4 },
                                      invoke: clock.invoke)
        XCTAssertTrue(s.interrupted)
        XCTAssertEqual(s.windows, [[2.0, 200]])  // asked every 0.5 s: stopped at 2 s, not at the 30 s window end
        XCTAssertEqual(loop.latenciesUs.count, 200)
        XCTAssertEqual(s.windowThermalStates, ["fair"])
    }

    func testTheResultCarriesTheSustainedKeysOnlyWhenAsked() throws {
        let golden = try Contracts.data("results/ios_ok.json")
        guard case .ok(var ok) = try JSONDecoder().decode(RunnerResult.self, from: golden) else {
            return XCTFail("ios_ok.json decoded as a failure")
        }
        let plain = try JSONSerialization.jsonObject(with: RunnerResult.ok(ok).jsonData()) as! [String: Any]
        XCTAssertNil(plain["windows"])
        XCTAssertNil(plain["sustained_s"])
        ok.sustained = SustainedOutcome(sustainedS: 600, windowS: 30, windows: [[30.001, 900], [60.0, 1700]],
                                        timedStartS: 0, interrupted: true,
                                        windowThermalStates: ["nominal", "serious"], afterLoopS: 0.4)
        let data = try RunnerResult.ok(ok).jsonData()
        let dict = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(Set(dict.keys).subtracting(plain.keys),
                       ["sustained_s", "window_s", "windows", "timed_start_s", "interrupted", "window_thermal_states",
                        "after_loop_s"])
        XCTAssertEqual(dict["window_thermal_states"] as? [String], ["nominal", "serious"])
        XCTAssertEqual((dict["windows"] as? [[Double]])?.last, [60.0, 1700])
        guard case .ok(let back) = try JSONDecoder().decode(RunnerResult.self, from: data) else {
            return XCTFail("decoded as a failure")
        }
        XCTAssertEqual(back.sustained, ok.sustained)
    }

    func testTheJobsSustainedKeysAreReadAndWrittenOnlyWhenSet() throws {
        let basic = try JSONDecoder().decode(BenchJob.self, from: Contracts.data("jobs/ios_coreml.json"))
        XCTAssertNil(basic.sustainedS)
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(basic)) as! [String: Any]
        XCTAssertNil(plain["sustained_s"])
        var job = basic
        job.sustainedS = 600
        job.windowS = 30
        let dict = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job)) as! [String: Any]
        XCTAssertEqual(dict["sustained_s"] as? Double, 600)
        XCTAssertEqual(dict["window_s"] as? Double, 30)
        let back = try JSONDecoder().decode(BenchJob.self, from: JSONEncoder().encode(job))
        XCTAssertEqual(back.sustainedS, 600)
        XCTAssertEqual(sustainedWindowS(sustainedS: 600, windowS: nil), 30)
        XCTAssertEqual(sustainedWindowS(sustainedS: 4, windowS: 0), 0.5)
    }

    func testTheStopFileIsTheHostsCtrlC() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stop-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = JobFiles(documents: dir)
        XCTAssertFalse(files.stopRequested("h-1"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("jobs"), withIntermediateDirectories: true)
        try Data().write(to: files.stopURL("h-1"))
        XCTAssertTrue(files.stopRequested("h-1"))
        XCTAssertEqual(files.stopURL("h-1").lastPathComponent, "h-1.stop")
    }
}
