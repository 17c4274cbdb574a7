// The app's entry point, built by Xcode only (App/project.yml); everything it shows lives in HarnessIOS.
import HarnessIOS
import SwiftUI

@main
struct HarnessCompanionApp: App {
    @StateObject private var headless = HeadlessController()

    var body: some Scene {
        WindowGroup {
            RootView(headless: headless)
                .task { await headless.runIfRequested() }
        }
    }
}
