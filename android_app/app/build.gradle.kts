plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "dev.harness.companion"
    compileSdk = 34

    defaultConfig {
        applicationId = "dev.harness.companion"
        minSdk = 26 // Android 8.0; thermal status needs 29 and headroom 30, read only where present
        targetSdk = 34
        // The host compares this with the phone's `dumpsys package` before each run (apk: in devices.yaml);
        // devices/android_target.py MIN_APP_VERSION_CODE is the oldest one it accepts.
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }
    androidResources {
        noCompress += "tflite"
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)
}
