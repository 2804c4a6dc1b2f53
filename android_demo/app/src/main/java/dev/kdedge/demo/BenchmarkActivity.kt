package dev.kdedge.demo

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.util.Log
import android.widget.TextView
import dev.kdedge.bench.BenchLine
import dev.kdedge.bench.BenchLoop
import dev.kdedge.bench.BenchRun
import dev.kdedge.bench.InputRows
import org.tensorflow.lite.Interpreter
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Benchmark mode, started by `kdedge bench --adb SERIAL --app` (README "Benchmark mode"):
 * times warm Interpreter.run calls on the pushed model and ids, logs one KDEDGE_BENCH line, finishes.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val status = TextView(this).apply { textSize = 16f }
        setContentView(status)
        val extras = intent.extras ?: Bundle()
        val runId = extras.getString(BenchLine.EXTRA_RUN_ID) ?: ""
        status.text = "kdedge benchmark $runId: running"
        Thread {
            val summary = try {
                val run = benchmark(extras, runId)
                Log.i(BenchLine.TAG, BenchLine.result(run))
                val p = listOf(50.0, 90.0, 99.0).map { BenchLine.percentile(run.latenciesUs, it) / 1000.0 }
                "%s\np50 %.3f ms  p90 %.3f ms  p99 %.3f ms (%d runs)".format(runId, p[0], p[1], p[2], run.latenciesUs.size)
            } catch (e: Throwable) {
                Log.e(BenchLine.TAG, BenchLine.error(runId, e))
                "$runId failed: $e"
            }
            runOnUiThread {
                status.text = summary
                finish()
            }
        }.start()
    }

    private fun benchmark(extras: Bundle, runId: String): BenchRun {
        val model = File(requireNotNull(extras.getString(BenchLine.EXTRA_MODEL)) { "no --es model extra" })
        val inputs = File(requireNotNull(extras.getString(BenchLine.EXTRA_INPUTS)) { "no --es inputs extra" })
        val run = BenchRun().apply {
            this.runId = runId
            this.model = model.path
            this.inputs = inputs.path
            threads = extras.getInt(BenchLine.EXTRA_THREADS, 1)
            xnnpack = extras.getBoolean(BenchLine.EXTRA_XNNPACK, true)
            warmup = extras.getInt(BenchLine.EXTRA_WARMUP, 20)
            manufacturer = Build.MANUFACTURER
            deviceModel = Build.MODEL
            sdk = Build.VERSION.SDK_INT
            abi = Build.SUPPORTED_ABIS[0]
        }
        val runs = extras.getInt(BenchLine.EXTRA_RUNS, 200)
        run.modelSha256 = InputRows.sha256(model)

        val start = System.nanoTime()
        val options = Interpreter.Options().setNumThreads(run.threads).setUseXNNPACK(run.xnnpack)
        Interpreter(model, options).use { interpreter ->
            interpreter.allocateTensors()
            run.initUs = (System.nanoTime() - start) / 1000

            // Inputs by name, never by position: input_ids, and attention_mask = (ids != 0) for the teacher.
            val names = List(interpreter.inputTensorCount) { interpreter.getInputTensor(it).name() }
            val idsAt = names.indexOfFirst { "input_ids" in it }.takeIf { it >= 0 } ?: 0
            val maxLen = interpreter.getInputTensor(idsAt).shape()[1]
            val feeds = InputRows.read(inputs, maxLen).map { row ->
                Array<Any>(names.size) { i ->
                    when {
                        i == idsAt -> arrayOf(row)
                        "attention_mask" in names[i] -> arrayOf(IntArray(maxLen) { if (row[it] != 0) 1 else 0 })
                        else -> throw IllegalArgumentException("input ${names[i]} is neither input_ids nor attention_mask")
                    }
                }
            }
            val output = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
            val outputs = mutableMapOf<Int, Any>(0 to output)
            val timings = BenchLoop.time({ i ->
                output.rewind()
                interpreter.runForMultipleInputsOutputs(feeds[i % feeds.size], outputs)
            }, run.warmup, runs)
            run.firstUs = timings.firstUs
            run.latenciesUs = timings.latenciesUs
        }
        return run
    }
}
