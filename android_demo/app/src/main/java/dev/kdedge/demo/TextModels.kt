package dev.kdedge.demo

import android.content.Context
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.text.textclassifier.TextClassifier
import dev.kdedge.tokenizer.Tokenizer
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import kotlin.math.exp

/** Text in, one score per label out (probabilities, or logits for a file exported with --output logits). */
interface TextModel : AutoCloseable {
    fun classify(text: String): FloatArray
}

/** MediaPipe Tasks' TextClassifier on a self-describing file: no tokenizer code in the app. */
class MediaPipeModel(context: Context, asset: String, private val numLabels: Int) : TextModel {
    private val classifier = TextClassifier.createFromOptions(
        context,
        TextClassifier.TextClassifierOptions.builder()
            .setBaseOptions(BaseOptions.builder().setModelAssetPath(asset).build())
            .build(),
    )

    override fun classify(text: String): FloatArray {
        val scores = FloatArray(numLabels)
        for (category in classifier.classify(text).classificationResult().classifications()[0].categories()) {
            scores[category.index()] = category.score()
        }
        return scores
    }

    override fun close() = classifier.close()
}

/** Raw mode: LiteRT's Interpreter fed by the pure-Java tokenizer (files MediaPipe cannot take). */
class LiteRtModel(context: Context, asset: String, private val tokenizer: Tokenizer, numLabels: Int) : TextModel {
    private val interpreter = Interpreter(mapAsset(context, asset), Interpreter.Options().setNumThreads(1))
    private val output = Array(1) { FloatArray(numLabels) }

    override fun classify(text: String): FloatArray {
        interpreter.run(arrayOf(tokenizer.encode(text)), output)
        return output[0].copyOf()
    }

    override fun close() = interpreter.close()
}

/** An uncompressed asset (noCompress "tflite"), memory-mapped from the APK. */
fun mapAsset(context: Context, name: String): MappedByteBuffer =
    context.assets.openFd(name).use { fd ->
        FileInputStream(fd.fileDescriptor).channel.use { channel ->
            channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
        }
    }

fun softmax(logits: FloatArray): FloatArray {
    val max = logits.maxOrNull() ?: 0f
    val e = logits.map { exp((it - max).toDouble()) }
    return FloatArray(logits.size) { (e[it] / e.sum()).toFloat() }
}
