import Foundation
import XCTest
@testable import HarnessCore

final class JobContractTests: XCTestCase {
    func testBasicJobDecodesWithRunnerFieldsAndReencodesSameKeys() throws {
        let data = try Contracts.data("jobs/basic.json")
        let job = try JSONDecoder().decode(BenchJob.self, from: data)
        XCTAssertEqual(job.modelPath, "models/tiny.tflite")
        XCTAssertNil(job.computeUnits)
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job))
        let golden = try Contracts.json("jobs/basic.json")
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testMissingKeysTakeRunnerDefaults() throws {
        // rpi/runner.py DEFAULT_JOB: warmup_s 0.5, min_runs 50, min_s 1.0, max_s 150, threads 1.
        let job = try JSONDecoder().decode(BenchJob.self, from: Data(#"{"model_path": "m.mlpackage"}"#.utf8))
        XCTAssertEqual(job.loop, LoopSettings(warmupRuns: 1, warmupS: 0.5, minRuns: 50, minS: 1.0, maxS: 150.0,
                                              maxRuns: 0, sampleIntervalS: 0.5))
        XCTAssertEqual(job.threads, 1)
        XCTAssertEqual(job.delegate, "xnnpack")
    }

    func testMissingModelPathIsAnError() {
        XCTAssertThrowsError(try JSONDecoder().decode(BenchJob.self, from: Data(#"{"threads": 2}"#.utf8)))
    }

    func testIosJobExampleCarriesComputeUnits() throws {
        let job = try JSONDecoder().decode(BenchJob.self, from: Contracts.data("jobs/ios_coreml.json"))
        XCTAssertEqual(job.computeUnits, .cpuAndNeuralEngine)
        XCTAssertTrue(job.modelPath.hasSuffix(".mlpackage"))
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job))
        let golden = try Contracts.json("jobs/ios_coreml.json")
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testUnknownComputeUnitsIsRejected() {
        let text = #"{"model_path": "m.mlpackage", "compute_units": "npuOnly"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(BenchJob.self, from: Data(text.utf8)))
    }
}

final class ResultContractTests: XCTestCase {
    private func roundTrip(_ name: String) throws -> (RunnerResult, Any, Any) {
        let data = try Contracts.data("results/\(name)")
        let result = try JSONDecoder().decode(RunnerResult.self, from: data)
        let back = try JSONSerialization.jsonObject(with: result.jsonData())
        return (result, try Contracts.json("results/\(name)"), back)
    }

    func testOkResultRoundTripsEveryKeyAndType() throws {
        let (result, golden, back) = try roundTrip("ok.json")
        guard case .ok(let ok) = result else { return XCTFail("ok.json decoded as a failure") }
        XCTAssertEqual(ok.schemaVersion, schemaVersion)
        XCTAssertEqual(ok.latenciesUs.count, 20)
        XCTAssertEqual(ok.inputs.first?.shape, [1, 16, 16, 3])
        XCTAssertNil(ok.ios)
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testErrorResultRoundTrips() throws {
        let (result, golden, back) = try roundTrip("error.json")
        guard case .failure(let err) = result else { return XCTFail("error.json decoded as ok") }
        XCTAssertTrue(err.error.hasPrefix("ValueError"))
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testSchemaVersionMatchesContract() throws {
        let golden = try Contracts.json("results/ok.json") as! [String: Any]
        XCTAssertEqual(golden["schema_version"] as? Int, schemaVersion)
    }

    func testOtherSchemaVersionIsRefused() throws {
        var golden = try Contracts.json("results/ok.json") as! [String: Any]
        golden["schema_version"] = schemaVersion + 1
        let data = try JSONSerialization.data(withJSONObject: golden)
        XCTAssertThrowsError(try JSONDecoder().decode(RunnerResult.self, from: data))
    }

    func testTemperatureSamplesAreThreeElementArrays() throws {
        let text = #"[[0.5, "run", {"cpu": 41.5}]]"#
        let temps = try JSONDecoder().decode([TempSample].self, from: Data(text.utf8))
        XCTAssertEqual(temps, [TempSample(tS: 0.5, phase: "run", zonesC: ["cpu": 41.5])])
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(temps))
        XCTAssertNil(jsonDifference(try JSONSerialization.jsonObject(with: Data(text.utf8)), back))
    }

    func testIosExtrasAreWrittenUnderIosKeyOnly() throws {
        guard case .ok(var ok) = try JSONDecoder().decode(RunnerResult.self, from: Contracts.data("results/ok.json"))
        else { return XCTFail("ok.json decoded as a failure") }
        ok.ios = IosExtras(computeUnits: "all", thermalStateBefore: "nominal", thermalStatesDuring: ["fair"],
                           thermalStateAfter: "fair", batteryLevelBefore: 0.8, batteryLevelAfter: 0.79,
                           batteryStateBefore: "unplugged", batteryStateAfter: "unplugged", physFootprintMb: 120.5)
        let back = try JSONSerialization.jsonObject(with: RunnerResult.ok(ok).jsonData()) as! [String: Any]
        let golden = try Contracts.json("results/ok.json") as! [String: Any]
        XCTAssertEqual(Set(back.keys).subtracting(golden.keys), ["ios"])
        let ios = back["ios"] as! [String: Any]
        XCTAssertEqual(ios["compute_units"] as? String, "all")
        XCTAssertEqual(ios["thermal_states_during"] as? [String], ["fair"])
    }
}
