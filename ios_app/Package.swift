// swift-tools-version:5.9
// HarnessCore (Foundation only) builds and is tested on Linux with `swift test`.
// HarnessIOS holds the SwiftUI screens and the Core ML headless runner; every file in it sits behind
// `#if canImport(SwiftUI)` / `#if canImport(CoreML)`, so on Linux it compiles to an empty module.
// The app itself (App/HarnessApp.swift, the @main entry) is built by Xcode from App/project.yml.
import PackageDescription

let package = Package(
    name: "HarnessCompanion",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "HarnessCore", targets: ["HarnessCore"]),
        .library(name: "HarnessIOS", targets: ["HarnessIOS"]),
        .executable(name: "live-follow", targets: ["LiveFollow"]),
    ],
    targets: [
        .target(name: "HarnessCore"),
        .target(name: "HarnessIOS", dependencies: ["HarnessCore"]),
        // The app's SSE client on the command line, for tests against a real `harness serve`.
        .executableTarget(name: "LiveFollow", dependencies: ["HarnessCore"]),
        .testTarget(name: "HarnessCoreTests", dependencies: ["HarnessCore"]),
    ]
)
