// Versions as the maintained MediaPipe / LiteRT samples pinned them; never resolved where kdedge is
// developed (no Google Maven there; see README "What is not built or run here").
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.0.21" apply false
}
