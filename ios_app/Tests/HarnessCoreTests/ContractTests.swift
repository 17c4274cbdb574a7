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
        // Schema 3: delegate_library None, ignore_sensors [], cpufreq_glob the sysfs policy folders.
        XCTAssertNil(job.delegateLibrary)
        XCTAssertEqual(job.ignoreSensors, [])
        XCTAssertEqual(job.cpufreqGlob, "/sys/devices/system/cpu/cpu[0-9]*/cpufreq")
    }

    func testBasicJobCarriesTheSchema3RunnerKeys() throws {
        let job = try JSONDecoder().decode(BenchJob.self, from: Contracts.data("jobs/basic.json"))
        let golden = try Contracts.json("jobs/basic.json") as! [String: Any]
        XCTAssertEqual(job.cpufreqGlob, golden["cpufreq_glob"] as? String)
        XCTAssertEqual(job.ignoreSensors, golden["ignore_sensors"] as? [String])
        XCTAssertTrue(golden["delegate_library"] is NSNull)
        XCTAssertNil(job.delegateLibrary)
    }

    func testNewJobKeysAreReadWhenPresentAndWrittenBack() throws {
        let text = #"{"model_path": "m.tflite", "delegate": "gpu", "delegate_library": "/usr/lib/libgpu_delegate.so", "#
            + #""ignore_sensors": ["PMIC-Die"], "cpufreq_glob": "/tmp/cpu*/cpufreq"}"#
        let job = try JSONDecoder().decode(BenchJob.self, from: Data(text.utf8))
        XCTAssertEqual(job.delegateLibrary, "/usr/lib/libgpu_delegate.so")
        XCTAssertEqual(job.ignoreSensors, ["PMIC-Die"])
        XCTAssertEqual(job.cpufreqGlob, "/tmp/cpu*/cpufreq")
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job)) as! [String: Any]
        XCTAssertEqual(back["delegate_library"] as? String, "/usr/lib/libgpu_delegate.so")
        XCTAssertEqual(back["ignore_sensors"] as? [String], ["PMIC-Die"])
        XCTAssertEqual(back["cpufreq_glob"] as? String, "/tmp/cpu*/cpufreq")
        XCTAssertEqual(try JSONDecoder().decode(BenchJob.self, from: JSONEncoder().encode(job)), job)
    }

    func testWrongTypeForNewJobKeyIsAnError() {
        let text = #"{"model_path": "m.tflite", "ignore_sensors": "PMIC-Die"}"#
        XCTAssertThrowsError(try JSONDecoder().decode(BenchJob.self, from: Data(text.utf8)))
    }

    func testIosJobKeepsLinuxOnlyKeysThatDifferFromTheDefault() throws {
        var job = try JSONDecoder().decode(BenchJob.self, from: Contracts.data("jobs/ios_coreml.json"))
        job.ignoreSensors = ["x"]
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(job)) as! [String: Any]
        let golden = try Contracts.json("jobs/ios_coreml.json") as! [String: Any]
        XCTAssertEqual(Set(back.keys).subtracting(golden.keys), ["ignore_sensors"])
        XCTAssertEqual(try JSONDecoder().decode(BenchJob.self, from: JSONEncoder().encode(job)), job)
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
        let g = golden as! [String: Any]
        XCTAssertEqual(ok.delegateRequested, g["delegate_requested"] as? String)
        XCTAssertEqual(ok.delegate, g["delegate"] as? String)
        XCTAssertEqual(ok.endRssMb, g["end_rss_mb"] as? Double)
        XCTAssertEqual(ok.cpuFreq.count, (g["cpu_freq"] as? [Any])?.count)
        XCTAssertNil(ok.delegateLibrary)
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testOkResultWithClockSamplesRoundTrips() throws {
        // rpi/runner.py run_sampler: [t_s, phase, {cpuN: {"cur": MHz, "max": MHz}}], "max" left out when the
        // kernel has no scaling_max_freq; end_rss_mb null where /proc gave no VmRSS; delegate_library when set.
        var golden = try Contracts.json("results/ok.json") as! [String: Any]
        golden["cpu_freq"] = try JSONSerialization.jsonObject(with: Data(
            #"[[0.0, "before", {"cpu0": {"cur": 1800, "max": 2400}, "cpu1": {"cur": 600}}], [0.512, "run", {"cpu0": {"cur": 1500, "max": 2400}}]]"#.utf8))
        golden["end_rss_mb"] = NSNull()
        golden["delegate_requested"] = "gpu"
        golden["delegate"] = "external:libgpu.so"
        golden["delegate_library"] = "/opt/libgpu.so"
        let result = try JSONDecoder().decode(RunnerResult.self, from: JSONSerialization.data(withJSONObject: golden))
        guard case .ok(let ok) = result else { return XCTFail("decoded as a failure") }
        XCTAssertEqual(ok.cpuFreq.first, CpuFreqSample(tS: 0.0, phase: "before", cpusMhz: [
            "cpu0": CpuClock(cur: 1800, max: 2400), "cpu1": CpuClock(cur: 600, max: nil)]))
        XCTAssertEqual(ok.cpuFreq.last?.phase, "run")
        XCTAssertNil(ok.endRssMb)
        XCTAssertEqual(ok.delegateLibrary, "/opt/libgpu.so")
        let back = try JSONSerialization.jsonObject(with: result.jsonData())
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testClockSampleKeysAreExactlyTheRunners() throws {
        let sample = [CpuFreqSample(tS: 1.0, phase: "after", cpusMhz: ["cpu3": CpuClock(cur: 2000, max: 2400)])]
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(sample)) as! [[Any]]
        XCTAssertEqual(back[0].count, 3)
        let clocks = back[0][2] as! [String: [String: Any]]
        XCTAssertEqual(Set(clocks["cpu3"]!.keys), ["cur", "max"])
        let bad = #"[[1.0, "after", {"cpu3": {"cur": "2000"}}]]"#
        XCTAssertThrowsError(try JSONDecoder().decode([CpuFreqSample].self, from: Data(bad.utf8)))
    }

    func testSchema2ResultWithoutDelegateRequestedIsRefused() throws {
        var golden = try Contracts.json("results/ok.json") as! [String: Any]
        golden.removeValue(forKey: "delegate_requested")
        let data = try JSONSerialization.data(withJSONObject: golden)
        XCTAssertThrowsError(try JSONDecoder().decode(RunnerResult.self, from: data))
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
