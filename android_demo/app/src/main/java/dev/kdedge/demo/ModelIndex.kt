package dev.kdedge.demo

import android.content.Context
import org.json.JSONArray
import org.json.JSONObject

/** One model of the assets index (a row of kdedge_models.json). */
data class ModelEntry(
    val name: String,
    val file: String,
    /** "mediapipe": tokenizer and labels are in the file; "litert": raw mode, the Java tokenizer. */
    val runtime: String,
    val output: String,
    val tokenizer: String,
)

/** kdedge_models.json, written by `kdedge android-assets` / `kdedge export --android-assets`. */
class ModelIndex(val labels: List<String>, val models: List<ModelEntry>) {
    companion object {
        const val FILE = "kdedge_models.json"
        const val SCHEMA = "kdedge-android-assets/1"

        fun load(context: Context): ModelIndex {
            val json = JSONObject(context.assets.open(FILE).bufferedReader().use { it.readText() })
            require(json.getString("schema") == SCHEMA) { "$FILE has schema ${json.getString("schema")}, not $SCHEMA" }
            val rows = json.getJSONArray("models")
            val models = List(rows.length()) { i ->
                val m = rows.getJSONObject(i)
                ModelEntry(m.getString("name"), m.getString("file"), m.getString("runtime"), m.getString("output"),
                           m.getString("tokenizer"))
            }
            return ModelIndex(strings(json.getJSONArray("labels")), models)
        }

        fun strings(array: JSONArray): List<String> = List(array.length()) { array.getString(it) }
    }
}
