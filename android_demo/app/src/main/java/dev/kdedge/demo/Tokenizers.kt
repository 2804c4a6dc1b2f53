package dev.kdedge.demo

import dev.kdedge.tokenizer.RegexTokenizer
import dev.kdedge.tokenizer.Tokenizer
import dev.kdedge.tokenizer.WordTokenizer
import org.json.JSONObject

/** The Java tokenizer a kdedge tokenizer.json describes (format 1, 2 or 3; kdedge/text/tokenizer.py). */
object Tokenizers {
    fun fromJson(text: String): Tokenizer {
        val d = JSONObject(text)
        val vocab = ModelIndex.strings(d.getJSONArray("vocab"))
        val maxLen = d.getInt("max_len")
        return when (val format = d.getString("format")) {
            RegexTokenizer.FORMAT -> {
                val cases = d.optJSONArray("case_variants")?.let { ModelIndex.strings(it) }
                require(cases == null || cases == listOf("lower", "capitalized", "upper")) { "unknown case_variants $cases" }
                RegexTokenizer.fromVocab(vocab, maxLen, d.getString("delim_regex_pattern"))
            }
            WordTokenizer.FORMAT -> WordTokenizer(vocab, maxLen, d.getBoolean("lowercase"), d.getString("pattern"), 0)
            WordTokenizer.FORMAT_HASHED -> {
                require(d.getString("oov_hash") == "fnv1a32") { "unknown oov_hash ${d.getString("oov_hash")}" }
                WordTokenizer(vocab, maxLen, d.getBoolean("lowercase"), d.getString("pattern"), d.getInt("oov_buckets"))
            }
            else -> throw IllegalArgumentException("unknown tokenizer format $format")
        }
    }
}
