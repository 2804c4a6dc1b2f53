plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.kdedge.demo"
    compileSdk = 34

    defaultConfig {
        applicationId = "dev.kdedge.demo"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    // The models are memory-mapped straight from the APK: they must be stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_1_8
        targetCompatibility = JavaVersion.VERSION_1_8
    }
    kotlinOptions {
        jvmTarget = "1.8"
    }
}

dependencies {
    implementation(project(":tokenizer"))
    implementation(project(":bench"))
    // MediaPipe Tasks: TextClassifier reads the tokenizer and labels from the model's metadata.
    implementation("com.google.mediapipe:tasks-text:0.10.21")
    // LiteRT (the TensorFlow Lite runtime, org.tensorflow.lite.Interpreter): raw mode and benchmark mode.
    implementation("com.google.ai.edge.litert:litert:1.4.2")
}
