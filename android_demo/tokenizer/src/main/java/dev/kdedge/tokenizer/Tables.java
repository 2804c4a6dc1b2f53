package dev.kdedge.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Python 3.11's text semantics, from the tables in {@link PyUnicode}: the token characters of
 * format 3, {@code re}'s {@code \w} and {@code \s}, and {@code str.lower()} / {@code str.upper()}.
 *
 * <p>Nothing here asks Java's own Unicode data (JDK 17 knows Unicode 13, Python 3.11 Unicode 14,
 * and {@code String.toLowerCase} follows other final-sigma rules), so the answers are Python's on
 * every JVM and every Android version. Strings are walked by code point; a lone surrogate is one
 * code point, as in Python.
 */
public final class Tables {
    private final int[] token, word, space, ignorable, cased;
    private final int[] lowerKeys, upperKeys;
    private final int[][] lowerValues, upperValues;

    Tables(String token, String word, String space, String lower, String upper, String ignorable,
           String cased) {
        this.token = ranges(token);
        this.word = ranges(word);
        this.space = ranges(space);
        this.ignorable = ranges(ignorable);
        this.cased = ranges(cased);
        List<int[]> lowerMap = mapping(lower), upperMap = mapping(upper);
        lowerKeys = keys(lowerMap);
        lowerValues = values(lowerMap);
        upperKeys = keys(upperMap);
        upperValues = values(upperMap);
    }

    /** The tables of the Python that wrote PyUnicode.java. */
    public static Tables python() {
        return PyUnicode.T;
    }

    /** A letter, mark or digit of any script, {@code _} or {@code '}: {@code [\pL\pM\pN_']} (format 3). */
    public boolean isToken(int cp) {
        return in(token, cp);
    }

    /** Python {@code re}'s {@code \w}. */
    public boolean isWord(int cp) {
        return in(word, cp);
    }

    /** Python {@code re}'s {@code \s} (and {@code str.isspace}). */
    public boolean isSpace(int cp) {
        return in(space, cp);
    }

    /** Python's {@code s.lower()}: full case mappings and the final-sigma rule. */
    public String lower(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (cp == 0x3A3) {
                out.appendCodePoint(finalSigma(s, i, next) ? 0x3C2 : 0x3C3);
            } else {
                append(out, cp, lowerKeys, lowerValues);
            }
            i = next;
        }
        return out.toString();
    }

    /** Python's {@code s.upper()} (full case mappings; no context). */
    public String upper(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            append(out, cp, upperKeys, upperValues);
            i += Character.charCount(cp);
        }
        return out.toString();
    }

    /**
     * CPython's handle_capital_sigma: the sigma at [start, end) is final when, skipping
     * case-ignorable characters, a cased one precedes it and none follows.
     */
    private boolean finalSigma(String s, int start, int end) {
        int j = start;
        int before = -1;
        while (j > 0) {
            int cp = s.codePointBefore(j);
            if (!in(ignorable, cp)) {
                before = cp;
                break;
            }
            j -= Character.charCount(cp);
        }
        if (before < 0 || !in(cased, before)) {
            return false;
        }
        for (int k = end; k < s.length(); ) {
            int cp = s.codePointAt(k);
            if (!in(ignorable, cp)) {
                return !in(cased, cp);
            }
            k += Character.charCount(cp);
        }
        return true;
    }

    private static void append(StringBuilder out, int cp, int[] keys, int[][] values) {
        int at = Arrays.binarySearch(keys, cp);
        if (at < 0) {
            out.appendCodePoint(cp);
        } else {
            for (int c : values[at]) {
                out.appendCodePoint(c);
            }
        }
    }

    /** Whether cp lies in one of the sorted inclusive ranges {first0, last0, first1, last1, ...}. */
    private static boolean in(int[] ranges, int cp) {
        int lo = 0, hi = ranges.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[2 * mid]) {
                hi = mid - 1;
            } else if (cp > ranges[2 * mid + 1]) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    private static int[] ranges(String encoded) {
        String[] items = encoded.isEmpty() ? new String[0] : encoded.split(" ");
        int[] out = new int[2 * items.length];
        for (int i = 0; i < items.length; i++) {
            int dash = items[i].indexOf('-');
            out[2 * i] = Integer.parseInt(dash < 0 ? items[i] : items[i].substring(0, dash), 16);
            out[2 * i + 1] = dash < 0 ? out[2 * i] : Integer.parseInt(items[i].substring(dash + 1), 16);
        }
        return out;
    }

    /** {@code cp=c1.c2 ...} as rows {cp, c1, c2, ...}, sorted by cp (the generator writes them so). */
    private static List<int[]> mapping(String encoded) {
        List<int[]> rows = new ArrayList<>();
        for (String item : encoded.split(" ")) {
            int eq = item.indexOf('=');
            String[] chars = item.substring(eq + 1).split("\\.");
            int[] row = new int[chars.length + 1];
            row[0] = Integer.parseInt(item.substring(0, eq), 16);
            for (int i = 0; i < chars.length; i++) {
                row[i + 1] = Integer.parseInt(chars[i], 16);
            }
            rows.add(row);
        }
        return rows;
    }

    private static int[] keys(List<int[]> rows) {
        int[] out = new int[rows.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = rows.get(i)[0];
        }
        return out;
    }

    private static int[][] values(List<int[]> rows) {
        int[][] out = new int[rows.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = Arrays.copyOfRange(rows.get(i), 1, rows.get(i).length);
        }
        return out;
    }
}
