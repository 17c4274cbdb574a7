import Foundation
import XCTest
@testable import HarnessCore

final class HeadlessTests: XCTestCase {
    func testJobNameFromLaunchArguments() throws {
        XCTAssertEqual(try Headless.jobName(arguments: ["/app", "--job", "h-0a1b2c"]), "h-0a1b2c")
        XCTAssertEqual(try Headless.jobName(arguments: ["/app", "--job=x_1.2"]), "x_1.2")
        XCTAssertNil(try Headless.jobName(arguments: ["/app", "-NSDoubleLocalizedStrings", "YES"]))
        for bad in ["../etc", "a/b", ".hidden", "", "x\u{7}"] {
            XCTAssertThrowsError(try Headless.jobName(arguments: ["/app", "--job", bad]), bad)
        }
        XCTAssertThrowsError(try Headless.jobName(arguments: ["/app", "--job"]))
    }

    func testDocumentsLayoutAndAtomicResult() throws {
        let docs = FileManager.default.temporaryDirectory.appendingPathComponent("hc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: docs) }
        let files = JobFiles(documents: docs)
        try FileManager.default.createDirectory(at: docs.appendingPathComponent("jobs"), withIntermediateDirectories: true)
        try Contracts.data("jobs/ios_coreml.json").write(to: files.jobURL("j1"))
        let job = try files.readJob("j1")
        XCTAssertEqual(try files.resolve(job.modelPath).path, docs.appendingPathComponent(job.modelPath).path)
        XCTAssertThrowsError(try files.resolve("../x"))
        XCTAssertThrowsError(try files.resolve("/etc/passwd"))
        XCTAssertEqual(files.listJobs().map(\.name), ["j1"])
        XCTAssertEqual(files.listJobs().map(\.hasResult), [false])
        try files.write(.failure(ErrorResult(error: "boom", traceback: "")), name: "j1")
        try files.write(.failure(ErrorResult(error: "boom again", traceback: "")), name: "j1")  // replaces
        let back = try JSONDecoder().decode(RunnerResult.self, from: Data(contentsOf: files.resultURL("j1")))
        XCTAssertEqual(back, .failure(ErrorResult(error: "boom again", traceback: "")))
        XCTAssertEqual(files.listJobs().map(\.hasResult), [true])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: docs.appendingPathComponent("results").path)
        XCTAssertEqual(leftovers, ["j1.json"])
    }

    func testSeededInputsRepeatAndStayInRange() {
        var a = SeededRandom(seed: 0), b = SeededRandom(seed: 0), c = SeededRandom(seed: 1)
        let xs = (0..<1000).map { _ in a.nextFloat() }
        XCTAssertEqual(xs, (0..<1000).map { _ in b.nextFloat() })
        XCTAssertNotEqual(xs.prefix(10), (0..<10).map { _ in c.nextFloat() }[...])
        XCTAssertTrue(xs.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(median([3, 1, 2]), 2)
        XCTAssertEqual(median([4, 1, 2, 3]), 2.5)
        XCTAssertNil(median([]))
    }
}
