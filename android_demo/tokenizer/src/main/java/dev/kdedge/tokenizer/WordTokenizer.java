package dev.kdedge.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Formats 1 and 2 ({@code kdedge-word-tokenizer/1}, {@code /2}), as kdedge/text/tokenizer.py's
 * {@code WordTokenizer} and {@code HashedWordTokenizer}.
 *
 * <p>Lower-case with Python's {@code str.lower} (if {@code lowercase}); the tokens are the matches of
 * {@link #PATTERN} ({@code [MASK]} / {@code [mask]}, runs of {@code \w} or {@code '}, or one other
 * non-space character), with Python's {@code \w} / {@code \s} from {@link Tables}; a token in the
 * vocabulary gets its index, else (format 2, {@code buckets > 0}, not a mask)
 * {@code vocab.size() + fnv1a32(utf8(token)) % buckets}, else {@code [UNK]}; the first
 * {@code maxLen} ids are kept and right-padded with 0.
 */
public final class WordTokenizer implements Tokenizer {
    public static final String FORMAT = "kdedge-word-tokenizer/1";
    public static final String FORMAT_HASHED = "kdedge-word-tokenizer/2";
    public static final String PATTERN = "\\[(?:mask|MASK)\\]|[\\w']+|[^\\w\\s]";
    public static final String PAD = "[PAD]", UNK = "[UNK]";
    private static final String[] MASKS = {"[mask]", "[MASK]"};

    private final Map<String, Integer> index = new HashMap<>();
    private final int vocabSize, maxLen, buckets;
    private final boolean lowercase;
    private final Tables tables = Tables.python();

    /**
     * @param vocab   tokenizer.json's {@code vocab} ({@code [PAD]}, {@code [UNK]}, then tokens)
     * @param pattern tokenizer.json's {@code pattern}; only {@link #PATTERN} is served
     * @param buckets {@code oov_buckets} of a format-2 file, 0 for format 1
     */
    public WordTokenizer(List<String> vocab, int maxLen, boolean lowercase, String pattern, int buckets) {
        if (vocab.size() < 2 || !vocab.get(0).equals(PAD) || !vocab.get(1).equals(UNK)) {
            throw new IllegalArgumentException("vocab must start with " + PAD + ", " + UNK);
        }
        if (!PATTERN.equals(pattern)) {
            throw new IllegalArgumentException("this tokenizer serves the pattern " + PATTERN + " only, got " + pattern);
        }
        if (buckets < 0) {
            throw new IllegalArgumentException("buckets must be >= 0, got " + buckets);
        }
        for (int i = 0; i < vocab.size(); i++) {
            index.put(vocab.get(i), i);  // a repeated token keeps its last id, as Python's dict does
        }
        this.vocabSize = vocab.size();
        this.maxLen = maxLen;
        this.lowercase = lowercase;
        this.buckets = buckets;
    }

    @Override
    public int maxLen() {
        return maxLen;
    }

    @Override
    public List<String> tokens(String text, int limit) {
        String s = lowercase ? tables.lower(text) : text;
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < s.length() && out.size() < limit) {
            if (s.startsWith(MASKS[0], i) || s.startsWith(MASKS[1], i)) {
                out.add(s.substring(i, i + MASKS[0].length()));
                i += MASKS[0].length();
                continue;
            }
            int cp = s.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (tables.isWord(cp) || cp == '\'') {
                int end = next;
                while (end < s.length()) {
                    int c = s.codePointAt(end);
                    if (!tables.isWord(c) && c != '\'') {
                        break;
                    }
                    end += Character.charCount(c);
                }
                out.add(s.substring(i, end));
                next = end;
            } else if (!tables.isSpace(cp)) {
                out.add(s.substring(i, next));
            }
            i = next;
        }
        return out;
    }

    /** The id of one token (see the class comment). */
    public int tokenId(String token) {
        Integer id = index.get(token);
        if (id != null) {
            return id;
        }
        if (buckets == 0 || token.equals(MASKS[0]) || token.equals(MASKS[1])) {
            return 1;
        }
        return vocabSize + (int) ((fnv1a32(token) & 0xFFFFFFFFL) % buckets);
    }

    @Override
    public int[] encode(String text) {
        int[] ids = new int[maxLen];
        List<String> tokens = tokens(text, maxLen);
        for (int i = 0; i < tokens.size(); i++) {
            ids[i] = tokenId(tokens.get(i));
        }
        return ids;
    }

    /** 32-bit FNV-1a of the token's UTF-8 bytes (as an unsigned value in an int). */
    public static int fnv1a32(String token) {
        int h = 0x811C9DC5;
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xFF)) * 0x01000193;
        }
        return h;
    }
}
