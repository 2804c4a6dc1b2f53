package dev.kdedge.demo

import android.app.Activity
import android.os.Bundle
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.Spinner
import android.widget.TextView
import android.view.View
import java.util.concurrent.Executors

/** Type or paste text: the label, every probability and the on-device latency of that call. */
class MainActivity : Activity() {
    private val worker = Executors.newSingleThreadExecutor()
    private var model: TextModel? = null
    private var index: ModelIndex? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val pad = (16 * resources.displayMetrics.density).toInt()
        val picker = Spinner(this)
        val input = EditText(this).apply { hint = "Type or paste a review"; minLines = 3 }
        val button = Button(this).apply { text = "Classify" }
        val result = TextView(this).apply { textSize = 16f }
        setContentView(LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(pad, pad, pad, pad)
            listOf(picker, input, button, result).forEach { addView(it) }
        })

        val loaded = try {
            ModelIndex.load(this)
        } catch (e: Exception) {
            result.text = "No models in the app's assets ($e).\n\nRun on your computer:\nkdedge android-assets " +
                "--export-dir runs/sst2/export --data runs/sst2/data --out android_demo/app/src/main/assets\nthen rebuild."
            button.isEnabled = false
            return
        }
        index = loaded
        picker.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
                                      loaded.models.map { "${it.name} (${it.runtime})" })
        picker.onItemSelectedListener = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) {
                val entry = loaded.models[position]
                worker.execute {
                    model?.close()
                    model = try {
                        open(entry, loaded.labels.size)
                    } catch (e: Exception) {
                        runOnUiThread { result.text = "Could not load ${entry.file}: $e" }
                        null
                    }
                }
            }

            override fun onNothingSelected(parent: AdapterView<*>?) {}
        }
        button.setOnClickListener {
            val text = input.text.toString()
            val entry = loaded.models[picker.selectedItemPosition]
            worker.execute {
                val current = model ?: return@execute
                val start = System.nanoTime()
                val raw = current.classify(text)
                val micros = (System.nanoTime() - start) / 1000
                val probs = if (entry.output == "logits") softmax(raw) else raw
                val best = probs.indices.maxByOrNull { probs[it] } ?: 0
                val lines = loaded.labels.mapIndexed { i, label -> "%-10s %.4f".format(label, probs[i]) }
                runOnUiThread {
                    result.text = "${loaded.labels[best]}\n\n${lines.joinToString("\n")}\n\n" +
                        "%.2f ms on this device (%s, %s)".format(micros / 1000.0, entry.name, entry.runtime)
                }
            }
        }
    }

    private fun open(entry: ModelEntry, numLabels: Int): TextModel = when (entry.runtime) {
        "mediapipe" -> MediaPipeModel(this, entry.file, numLabels)
        else -> LiteRtModel(this, entry.file, Tokenizers.fromJson(assets.open(entry.tokenizer).bufferedReader().use { it.readText() }),
                            numLabels)
    }

    override fun onDestroy() {
        worker.execute { model?.close() }
        worker.shutdown()
        super.onDestroy()
    }
}
