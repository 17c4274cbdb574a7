// Plugins are declared here and applied in the modules (versions in gradle/libs.versions.toml).
plugins {
    alias(libs.plugins.android.application) apply false
}
