import Foundation
import XCTest
@testable import HarnessCore

/// contracts/timed_loop_cases.py's FakeTime: time passes only inside invoke(), by that call's cost (cycled).
final class FakeClock: MonotonicClock {
    var ns: UInt64 = 1_000_000_000_000
    var invokes = 0
    private let costsUs: [Double]

    init(costsUs: [Double]) { self.costsUs = costsUs }

    func invoke() {
        let cost = costsUs[invokes % costsUs.count]
        invokes += 1
        ns += UInt64((cost * 1000).rounded(.toNearestOrEven))
    }

    func nowNanoseconds() -> UInt64 { ns }
    func unixSeconds() -> Double { 1_700_000_000.0 + Double(ns) / 1e9 }
}

struct LoopCase: Decodable {
    struct Expected: Decodable {
        let duration_s: Double
        let first_inference_us: Double
        let latencies_us: [Double]
        let runs: Int
        let samples_taken: Int
        let total_invokes: Int
        let warmup_runs_done: Int
    }

    let name: String
    let job: LoopSettings
    let invoke_cost_us: [Double]
    let expected: Expected
}

final class TimedLoopTests: XCTestCase {
    func testEveryGoldenCaseGivesTheRunnersNumbers() throws {
        let cases = try JSONDecoder().decode([LoopCase].self, from: Contracts.data("timed_loop/cases.json"))
        XCTAssertGreaterThanOrEqual(cases.count, 6)
        for c in cases {
            let clock = FakeClock(costsUs: c.invoke_cost_us)
            var samples = 0
            let out = timedLoop(c.job, clock: clock, sample: { phase in
                XCTAssertEqual(phase, "run")
                samples += 1
            }, invoke: clock.invoke)
            XCTAssertEqual(out.firstInferenceUs, c.expected.first_inference_us, c.name)
            XCTAssertEqual(out.warmupRunsDone, c.expected.warmup_runs_done, c.name)
            XCTAssertEqual(out.latenciesUs.count, c.expected.runs, c.name)
            XCTAssertEqual(out.latenciesUs, c.expected.latencies_us, c.name)
            XCTAssertEqual(out.durationS, c.expected.duration_s, c.name)
            XCTAssertEqual(samples, c.expected.samples_taken, c.name)
            XCTAssertEqual(clock.invokes, c.expected.total_invokes, c.name)
            XCTAssertEqual(out.timedWindowUnixS.count, 2, c.name)
            XCTAssertLessThanOrEqual(out.timedWindowUnixS[0], out.timedWindowUnixS[1], c.name)
        }
    }

    func testNoSamplerMeansNoSamplingButSameCounts() throws {
        let settings = LoopSettings(warmupRuns: 1, warmupS: 0, minRuns: 5, minS: 1.0, maxS: 150, maxRuns: 0,
                                    sampleIntervalS: 0.5)
        let clock = FakeClock(costsUs: [20000])
        let out = timedLoop(settings, clock: clock, invoke: clock.invoke)
        XCTAssertEqual(out.latenciesUs.count, 50)  // 1.0 s of 20 ms calls: min_s binds, not min_runs
    }

    func testThrowingInvokeStopsTheLoop() {
        struct Boom: Error {}
        let settings = LoopSettings(warmupRuns: 1, warmupS: 0, minRuns: 5, minS: 0, maxS: 1, maxRuns: 0,
                                    sampleIntervalS: 0.5)
        let clock = FakeClock(costsUs: [1000])
        var calls = 0
        XCTAssertThrowsError(try timedLoop(settings, clock: clock) {
            calls += 1
            if calls == 3 { throw Boom() }
            clock.invoke()
        })
        XCTAssertEqual(calls, 3)
    }

    func testPythonRoundingOfBinaryFractions() {
        // Python: round(2.675, 2) == 2.67 (the double is below the tie); round(0.125, 2) == 0.12 (exact tie, even).
        XCTAssertEqual(pythonRound(2.675, 2), 2.67)
        XCTAssertEqual(pythonRound(0.125, 2), 0.12)
        XCTAssertEqual(pythonRound(3.2755, 3), 3.276)  // 3.2755 is stored just above the tie
        XCTAssertEqual(pythonRound(1e-7, 6), 0.0)
    }

    func testSystemClockIsMonotonic() {
        let c = SystemClock()
        let a = c.nowNanoseconds()
        let b = c.nowNanoseconds()
        XCTAssertGreaterThanOrEqual(b, a)
    }
}
