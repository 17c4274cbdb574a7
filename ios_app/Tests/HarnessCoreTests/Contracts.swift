import Foundation
import XCTest

/// The repository's golden contract files (../contracts), found from this file's path so `swift test`
/// works from any directory.
enum Contracts {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // HarnessCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // ios_app
        .deletingLastPathComponent()  // repository
        .appendingPathComponent("contracts")

    static func data(_ relative: String) throws -> Data {
        let url = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("missing contract file \(url.path)")  // never silently: the message names it
        }
        return try Data(contentsOf: url)
    }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(relative), options: [.fragmentsAllowed])
    }
}

/// A key-by-key comparison of a golden JSON tree (left) with a re-encoded one (right): same keys, nulls
/// kept, an integer stays an integer (`2` never becomes `2.0`). A golden float may come back written
/// as `150` (Foundation's JSONEncoder prints 150.0 so); JSON has one number type and Python's float()
/// reads both. Returns the first difference, or nil.
func jsonDifference(_ a: Any, _ b: Any, path: String = "$") -> String? {
    switch (a, b) {
    case let (x as [String: Any], y as [String: Any]):
        if Set(x.keys) != Set(y.keys) {
            return "\(path): keys differ: only left \(Set(x.keys).subtracting(y.keys).sorted()), only right \(Set(y.keys).subtracting(x.keys).sorted())"
        }
        for k in x.keys.sorted() {
            if let d = jsonDifference(x[k]!, y[k]!, path: "\(path).\(k)") { return d }
        }
        return nil
    case let (x as [Any], y as [Any]):
        if x.count != y.count { return "\(path): \(x.count) items vs \(y.count)" }
        for (i, (p, q)) in zip(x, y).enumerated() {
            if let d = jsonDifference(p, q, path: "\(path)[\(i)]") { return d }
        }
        return nil
    case (is NSNull, is NSNull):
        return nil
    case let (x as String, y as String):
        return x == y ? nil : "\(path): \(x) vs \(y)"
    case let (x as NSNumber, y as NSNumber):
        if isBool(x) != isBool(y) { return "\(path): bool vs number" }
        if isInteger(x) && !isInteger(y) { return "\(path): integer \(x) came back as float \(y)" }
        return x.doubleValue == y.doubleValue ? nil : "\(path): \(x) vs \(y)"
    default:
        return "\(path): \(type(of: a)) vs \(type(of: b))"
    }
}

private func isBool(_ n: NSNumber) -> Bool {
    #if canImport(Darwin)
    return CFGetTypeID(n) == CFBooleanGetTypeID()
    #else
    return String(cString: n.objCType) == "c" && (n == NSNumber(value: true) || n == NSNumber(value: false))
        && !(n.intValue != 0 && n.intValue != 1)
    #endif
}

/// JSONSerialization yields an integer NSNumber for `2` and a double for `2.0` or `7.3e-05`.
private func isInteger(_ n: NSNumber) -> Bool {
    let t = String(cString: n.objCType)
    return t != "d" && t != "f"
}
