package dev.kdedge.tokenizer;

import java.util.List;

/** A kdedge student tokenizer: text in, {@code maxLen()} token ids out (truncated, right-padded). */
public interface Tokenizer {
    /** The model's input width. */
    int maxLen();

    /** The tokens of {@code text}, at most {@code limit} of them (the scan stops there). */
    List<String> tokens(String text, int limit);

    /** The ids the model reads: exactly those of kdedge/text/tokenizer.py's {@code encode}. */
    int[] encode(String text);
}
