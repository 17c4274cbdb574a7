import Foundation
import XCTest
@testable import HarnessCore

/// contracts/results/ios_ok.json: the result the iOS app writes, its "ios" block key by key.
final class IosBlockContractTests: XCTestCase {
    func testIosResultRoundTripsEveryKeyOfTheIosBlock() throws {
        let data = try Contracts.data("results/ios_ok.json")
        guard case .ok(let ok) = try JSONDecoder().decode(RunnerResult.self, from: data) else {
            return XCTFail("ios_ok.json decoded as a failure")
        }
        let ios = try XCTUnwrap(ok.ios)
        XCTAssertEqual(ios.outputsPath, "results/h-0a1b2c3d4e5f.outputs.f32")  // the host pulls this file
        XCTAssertEqual(ios.outputsShape, [2, 2])
        XCTAssertEqual(ios.computePlan?.opsByDevice?["neural_engine"], 5)
        XCTAssertEqual(ios.computePlan?.fellBack?.first?.supported, [.cpu])
        let golden = try Contracts.json("results/ios_ok.json")
        let back = try JSONSerialization.jsonObject(with: RunnerResult.ok(ok).jsonData())
        XCTAssertNil(jsonDifference(golden, back), jsonDifference(golden, back) ?? "")
    }

    func testAnIosBlockWithNothingReadHasTheSameKeys() throws {
        let golden = try Contracts.json("results/ios_ok.json") as! [String: Any]
        let goldenIos = golden["ios"] as! [String: Any]
        let bare = IosExtras(computeUnits: "all", thermalStateBefore: "nominal", thermalStatesDuring: [],
                             thermalStateAfter: "nominal", batteryLevelBefore: nil, batteryLevelAfter: nil,
                             batteryStateBefore: "unknown", batteryStateAfter: "unknown",
                             computePlan: .notAvailable("MLComputePlan needs iOS 17.4; this phone runs 16.7"))
        let back = try JSONSerialization.jsonObject(with: JSONEncoder().encode(bare)) as! [String: Any]
        XCTAssertEqual(Set(back.keys), Set(goldenIos.keys))
        XCTAssertTrue(back["outputs_path"] is NSNull)
        let plan = back["compute_plan"] as! [String: Any]
        XCTAssertEqual(Set(plan.keys), Set((goldenIos["compute_plan"] as! [String: Any]).keys))
        XCTAssertEqual(plan["available"] as? Bool, false)
        XCTAssertTrue(plan["ops_by_device"] is NSNull)  // not read: empty, never zeros
    }
}

final class ComputePlanTests: XCTestCase {
    func testCountsByPreferredDeviceAndTheOpsThatFellBack() {
        let ops = [PlannedOp(name: "ios17.conv", preferred: .neuralEngine, supported: [.cpu, .gpu, .neuralEngine]),
                   PlannedOp(name: "ios17.conv", preferred: .neuralEngine, supported: [.cpu, .neuralEngine]),
                   PlannedOp(name: "ios17.gather", preferred: .cpu, supported: [.cpu]),
                   PlannedOp(name: "ios17.softmax", preferred: .gpu, supported: [.cpu, .gpu]),
                   PlannedOp(name: "const", preferred: nil, supported: [])]
        let r = ComputePlanReport.summarise(ops, units: .all)
        XCTAssertTrue(r.available)
        XCTAssertEqual(r.opsTotal, 5)
        XCTAssertEqual(r.opsByDevice, ["cpu": 1, "gpu": 1, "neural_engine": 2])
        XCTAssertEqual(r.opsUnplaced, 1)
        XCTAssertEqual(r.fellBackCount, 1)
        XCTAssertEqual(r.fellBack, [FellBackOp(op: "ios17.gather", supported: [.cpu])])
        // Asked for the CPU only: a CPU op is what was asked, not a fallback.
        XCTAssertEqual(ComputePlanReport.summarise(ops, units: .cpuOnly).fellBackCount, 0)
    }

    func testTheListIsBoundedButTheCountIsNot() {
        let ops = (0..<120).map { PlannedOp(name: "op\($0)", preferred: .cpu, supported: [.cpu]) }
        let r = ComputePlanReport.summarise(ops, units: .cpuAndNeuralEngine)
        XCTAssertEqual(r.fellBackCount, 120)
        XCTAssertEqual(r.fellBack?.count, ComputePlanReport.maxListed)
    }

    func testOlderIosSaysNotAvailable() {
        let r = ComputePlanReport.notAvailable("MLComputePlan needs iOS 17.4; this phone runs 16.7")
        XCTAssertFalse(r.available)
        XCTAssertNil(r.opsTotal)
        XCTAssertTrue(r.reason!.contains("17.4"))
    }
}

/// A model for the evaluation pass: each output is the input doubled, shape [1, n].
private struct Doubler: EvalModel {
    func predict(_ input: [Float], shape: [Int]) throws -> (values: [Float], shape: [Int]) {
        (input.map { $0 * 2 }, [1, input.count])
    }
}

final class EvalPassTests: XCTestCase {
    private func freshDocuments() throws -> (JobFiles, URL) {
        let docs = FileManager.default.temporaryDirectory.appendingPathComponent("hc-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: docs.appendingPathComponent("eval"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: docs) }
        return (JobFiles(documents: docs), docs)
    }

    private func floats(_ xs: [Float]) -> Data {
        var d = Data()
        for x in xs {
            var le = x.bitPattern.littleEndian
            withUnsafeBytes(of: &le) { d.append(contentsOf: $0) }
        }
        return d
    }

    func testTheFirstEvalJobOnAFreshInstallWritesItsOutputs() throws {
        let (files, docs) = try freshDocuments()
        try floats([1, 2, 3, 4, 5, 6]).write(to: docs.appendingPathComponent("eval/x.f32"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: docs.appendingPathComponent("results").path))
        // What the app did before: Data.write into results/, which a fresh install does not have yet.
        XCTAssertThrowsError(try Data([0]).write(to: files.outputsURL("j"), options: .atomic))
        let (path, shape) = try EvalPass.run(EvalInputs(path: "eval/x.f32", shape: [1, 3], count: 2),
                                             inputShape: [1, 3], files: files, name: "j", model: Doubler())
        XCTAssertEqual(path, "results/j.outputs.f32")
        XCTAssertEqual(shape, [2, 1, 3])
        let out = try Data(contentsOf: docs.appendingPathComponent(path))
        XCTAssertEqual(out, floats([2, 4, 6, 8, 10, 12]))
    }

    func testInputsThatDoNotMatchTheModelAreRefused() throws {
        let (files, docs) = try freshDocuments()
        try floats([1, 2, 3, 4, 5]).write(to: docs.appendingPathComponent("eval/x.f32"))
        XCTAssertThrowsError(try EvalPass.run(EvalInputs(path: "eval/x.f32", shape: [1, 3], count: 2),
                                              inputShape: [1, 3], files: files, name: "j", model: Doubler()))
        XCTAssertThrowsError(try EvalPass.run(EvalInputs(path: "eval/x.f32", shape: [1, 3], count: 1),
                                              inputShape: [1, 4], files: files, name: "j", model: Doubler()))
        XCTAssertThrowsError(try EvalPass.run(EvalInputs(path: "../x.f32", shape: [1, 3], count: 1),
                                              inputShape: [1, 3], files: files, name: "j", model: Doubler()))
    }

    func testDrainingPoolReturnsAndRethrows() {
        XCTAssertEqual(drainingPool { 41 + 1 }, 42)
        XCTAssertThrowsError(try drainingPool { throw EvalError.mismatch("x") })
    }
}

final class HeadlessJobTests: XCTestCase {
    private func documents(job: String?) throws -> JobFiles {
        let docs = FileManager.default.temporaryDirectory.appendingPathComponent("hc-job-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: docs.appendingPathComponent("jobs"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: docs) }
        let files = JobFiles(documents: docs)
        if let job { try Data(job.utf8).write(to: files.jobURL("j")) }
        return files
    }

    private func written(_ files: JobFiles) throws -> ErrorResult {
        let r = try JSONDecoder().decode(RunnerResult.self, from: Data(contentsOf: files.resultURL("j")))
        guard case .failure(let e) = r else { XCTFail("an ok result"); throw EvalError.mismatch("ok") }
        return e
    }

    func testABadJobGetsAnErrorResultNamingTheField() async throws {
        let files = try documents(job: #"{"model_path": "models/m.mlpackage", "threads": "two"}"#)
        let ran = Flag()
        await HeadlessJob.runAndWrite(name: "j", files: files) { _, _ in ran.set(); throw EvalError.mismatch("x") }
        XCTAssertFalse(ran.value)
        let e = try written(files)
        XCTAssertTrue(e.error.hasPrefix("ValueError: jobs/j.json: threads must be Int"), e.error)
        XCTAssertEqual(e.schemaVersion, schemaVersion)
    }

    func testAMissingKeyAndAMissingJobFileAreNamed() async throws {
        var files = try documents(job: #"{"threads": 2}"#)
        await HeadlessJob.runAndWrite(name: "j", files: files) { _, _ in throw EvalError.mismatch("x") }
        XCTAssertEqual(try written(files).error, "ValueError: jobs/j.json: model_path is missing")
        files = try documents(job: nil)
        await HeadlessJob.runAndWrite(name: "j", files: files) { _, _ in throw EvalError.mismatch("x") }
        XCTAssertEqual(try written(files).error, "FileNotFoundError: jobs/j.json is not in Documents")
    }

    func testARunnerFailureIsWrittenAsTheRunnersErrorShape() async throws {
        let files = try documents(job: #"{"model_path": "models/m.mlpackage"}"#)
        await HeadlessJob.runAndWrite(name: "j", files: files) { _, _ in throw EvalError.mismatch("shape [1] vs [2]") }
        XCTAssertEqual(try written(files).error,
                       "EvalError: evaluation inputs do not match the model: shape [1] vs [2]")
    }
}

final class DelegateNamingTests: XCTestCase {
    private func facts(_ d: DelegateOutcome) -> AppRunFacts {
        AppRunFacts(runtime: "tensorflowlite-swift", runtimeVersion: "pod", machine: "iPhone15,2", delegate: d,
                    initUs: 10, inputs: [], loop: LoopOutcome(firstInferenceUs: 1, warmupRunsDone: 1, durationS: 0.1,
                                                              timedWindowUnixS: [1, 2], latenciesUs: [5, 6]),
                    footprint: FootprintReadings(beforeMb: 40.0004, afterMb: 52.12345, peakMb: 60.0006),
                    ios: IosExtras(computeUnits: "", thermalStateBefore: "nominal", thermalStatesDuring: [],
                                   thermalStateAfter: "nominal", batteryLevelBefore: nil, batteryLevelAfter: nil,
                                   batteryStateBefore: "unknown", batteryStateAfter: "unknown"))
    }

    func testARefusedDelegateIsNotReportedAsRunning() {
        var job = BenchJob(modelPath: "models/m.tflite")
        job.delegate = "coreml"
        let r = facts(.refused("coreml", because: "TFLiteDelegateError: CoreMLDelegate is not available")).result(for: job)
        XCTAssertEqual(r.delegateRequested, "coreml")
        XCTAssertEqual(r.delegate, "none")
        XCTAssertEqual(r.ios?.delegateError, "TFLiteDelegateError: CoreMLDelegate is not available")
    }

    func testAnAppliedDelegateAndTheCpuKernels() {
        XCTAssertEqual(DelegateOutcome.applied("gpu").ran, "gpu")
        XCTAssertEqual(DelegateOutcome.applied("cpu").ran, "none")
        XCTAssertNil(DelegateOutcome.applied("gpu").error)
        let r = facts(.applied("xnnpack")).result(for: BenchJob(modelPath: "models/m.tflite"))
        XCTAssertEqual(r.delegate, "xnnpack")
        XCTAssertNil(r.ios?.delegateError)
        // Memory as the runner rounds it: 3 digits; the delta is peak - before; nothing filled in.
        XCTAssertEqual(r.peakRssMb, 60.001)
        XCTAssertEqual(r.endRssMb, 52.123)
        XCTAssertEqual(r.peakRssDeltaMb, 20.0)
        XCTAssertNil(r.opsTotal)
        XCTAssertEqual(r.latenciesUs, [5, 6])
    }
}

final class Flag: @unchecked Sendable {
    private(set) var value = false
    func set() { value = true }
}

/// contracts/results/android_ok.json, read here too: the runner's part decodes as the iOS app's own result
/// type, and the Android app's block keeps the keys the host and the other two suites pin.
final class AndroidBlockContractTests: XCTestCase {
    static let androidKeys: Set<String> = [
        "delegate_requested", "delegate_applied", "delegate_error", "nodes_by_delegate", "tflite_log",
        "battery_before", "battery_after", "thermal_status_before", "thermal_status_after",
        "thermal_headroom_before", "thermal_headroom_after", "pss_mb", "sdk_int", "device_model", "run_token",
        "latency_timer", "outputs_path", "outputs_shape", "eval_error"]

    func testTheAndroidResultIsTheRunnersShapePlusItsPinnedBlock() throws {
        let golden = try Contracts.json("results/android_ok.json") as! [String: Any]
        XCTAssertEqual(Set((golden["android"] as! [String: Any]).keys), Self.androidKeys)
        var runner = golden
        runner.removeValue(forKey: "android")
        let data = try JSONSerialization.data(withJSONObject: runner)
        guard case .ok(let ok) = try JSONDecoder().decode(RunnerResult.self, from: data) else {
            return XCTFail("android_ok.json decoded as a failure")
        }
        XCTAssertEqual(ok.delegate, "gpu")
        let back = try JSONSerialization.jsonObject(with: RunnerResult.ok(ok).jsonData())
        XCTAssertNil(jsonDifference(runner, back), jsonDifference(runner, back) ?? "")
    }
}
