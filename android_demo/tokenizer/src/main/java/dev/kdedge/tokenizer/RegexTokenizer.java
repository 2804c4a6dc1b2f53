package dev.kdedge.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Format 3 ({@code kdedge-word-tokenizer/3}): MediaPipe's RegexTokenizer with kdedge's
 * case-variant table, as kdedge/text/tokenizer.py's {@code RegexTokenizer}.
 *
 * <p>Cut the text at its first NUL; the tokens are the maximal runs of token characters
 * ({@code [\pL\pM\pN_']}, from {@link Tables}, never java.util.regex); each token is looked up
 * exactly in the table (vocabulary word in lower, Capitalized and UPPER form, one id), else
 * {@code <UNKNOWN>}; the first {@code maxLen} ids are kept and right-padded with {@code <PAD>}.
 * Only the default delimiter {@link #DELIM} is served.
 */
public final class RegexTokenizer implements Tokenizer {
    public static final String FORMAT = "kdedge-word-tokenizer/3";
    public static final String DELIM = "[^\\pL\\pM\\pN_']+";
    public static final String PAD = "<PAD>", UNK = "<UNKNOWN>";

    private final Map<String, Integer> index;
    private final int maxLen, padId, unkId;
    private final Tables tables;

    private RegexTokenizer(Map<String, Integer> index, int maxLen, Tables tables) {
        this.index = index;
        this.maxLen = maxLen;
        this.padId = index.get(PAD);
        this.unkId = index.get(UNK);
        this.tables = tables;
    }

    /**
     * From tokenizer.json's {@code vocab} (id order; {@code <PAD>}, {@code <UNKNOWN>}, then
     * lower-case words): each word's variants share its id; a form two words share goes to the
     * first (more frequent) one.
     */
    public static RegexTokenizer fromVocab(List<String> vocab, int maxLen, String delim) {
        checkDelim(delim);
        if (vocab.size() < 2 || !vocab.get(0).equals(PAD) || !vocab.get(1).equals(UNK)) {
            throw new IllegalArgumentException("vocab must start with " + PAD + ", " + UNK);
        }
        Tables t = Tables.python();
        Map<String, Integer> index = new HashMap<>(4 * vocab.size());
        for (int i = 0; i < vocab.size(); i++) {
            List<String> forms = i >= 2 ? variants(vocab.get(i), t) : Collections.singletonList(vocab.get(i));
            for (String form : forms) {
                index.putIfAbsent(form, i);
            }
        }
        return new RegexTokenizer(index, maxLen, t);
    }

    /**
     * From the RegexTokenizer vocabulary file of a {@code .tflite}'s metadata ({@code token id}
     * per line, UTF-8): the explicit table, as is. Blank lines are skipped; a repeated token keeps
     * its first id.
     *
     * @throws IllegalArgumentException a line is not {@code token id}, or a required token is missing.
     */
    public static RegexTokenizer fromVocabFile(String content, int maxLen, String delim) {
        checkDelim(delim);
        Tables t = Tables.python();
        Map<String, Integer> index = new HashMap<>();
        String[] lines = content.split("\n", -1);
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n];
            if (blank(line, t)) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            String number = space < 0 ? "" : line.substring(space + 1);
            if (space <= 0 || number.isEmpty() || !number.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("line " + (n + 1) + ": expected 'token id', got " + line);
            }
            index.putIfAbsent(line.substring(0, space), Integer.parseInt(number));
        }
        for (String required : new String[] {PAD, UNK}) {
            if (!index.containsKey(required)) {
                throw new IllegalArgumentException("no " + required + " entry");
            }
        }
        return new RegexTokenizer(index, maxLen, t);
    }

    /** A vocabulary word's forms that share its id: lower, Capitalized, UPPER (distinct, in order). */
    public static List<String> variants(String word, Tables t) {
        List<String> forms = new ArrayList<>(3);
        String capitalized = word.isEmpty() ? word
                : t.upper(word.substring(0, Character.charCount(word.codePointAt(0))))
                  + word.substring(Character.charCount(word.codePointAt(0)));
        for (String form : new String[] {word, capitalized, t.upper(word)}) {
            if (!forms.contains(form)) {
                forms.add(form);
            }
        }
        return forms;
    }

    @Override
    public int maxLen() {
        return maxLen;
    }

    @Override
    public List<String> tokens(String text, int limit) {
        int nul = text.indexOf('\0');
        int end = nul < 0 ? text.length() : nul;
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i < end && out.size() < limit; ) {
            int cp = text.codePointAt(i);
            if (tables.isToken(cp)) {
                if (start < 0) {
                    start = i;
                }
            } else if (start >= 0) {
                out.add(text.substring(start, i));
                start = -1;
            }
            i += Character.charCount(cp);
        }
        if (start >= 0 && out.size() < limit) {
            out.add(text.substring(start, end));
        }
        return out;
    }

    @Override
    public int[] encode(String text) {
        int[] ids = new int[maxLen];
        Arrays.fill(ids, padId);
        List<String> tokens = tokens(text, maxLen);
        for (int i = 0; i < tokens.size(); i++) {
            ids[i] = index.getOrDefault(tokens.get(i), unkId);
        }
        return ids;
    }

    private static boolean blank(String line, Tables t) {
        for (int i = 0; i < line.length(); ) {
            int cp = line.codePointAt(i);
            if (!t.isSpace(cp)) {
                return false;
            }
            i += Character.charCount(cp);
        }
        return true;
    }

    private static void checkDelim(String delim) {
        if (!DELIM.equals(delim)) {
            throw new IllegalArgumentException("this tokenizer serves the delimiter " + DELIM + " only, got "
                                               + delim);
        }
    }
}
