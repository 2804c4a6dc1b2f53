// Pure Java (no android.*): compiled and tested on the JVM by tests/android (javac --release 8 + JUnit 4).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

// The tests read folders that tests/android writes (-Dkdedge.*); run them through pytest.
tasks.test {
    enabled = false
}
