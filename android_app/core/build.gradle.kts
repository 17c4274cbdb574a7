// Plain JVM: job/result types, the timed loop, the SSE client and the live model. No android.* here,
// so `./gradlew :core:test` (or tests/test_android_core.py with Debian's JDK) runs it anywhere.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

dependencies {
    api(libs.gson)
    testImplementation(libs.junit)
}

tasks.test {
    // The golden contract files shared with pytest and the Swift tests.
    systemProperty("harness.contracts", rootProject.file("../contracts").absolutePath)
}
