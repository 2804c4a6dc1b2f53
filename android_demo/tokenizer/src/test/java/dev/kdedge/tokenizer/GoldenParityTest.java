package dev.kdedge.tokenizer;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.Test;

/**
 * The Java tokenizers give Python's ids on every golden text.
 *
 * <p>tests/android/test_tokenizer_parity.py writes the golden folder (system property
 * {@code kdedge.golden}) from kdedge's own Python tokenizers: {@code cases.txt} (one case a line:
 * name, format, max_len, lowercase, buckets, vocabulary file, text files), the texts and vocabularies
 * as length-prefixed UTF-16BE strings, and each case's ids as big-endian int32.
 */
public class GoldenParityTest {
    private static Path golden() {
        String dir = System.getProperty("kdedge.golden");
        if (dir == null) {
            throw new IllegalStateException("-Dkdedge.golden=DIR is not set (run tests/android/test_tokenizer_parity.py)");
        }
        return Paths.get(dir);
    }

    @Test
    public void everyCaseGivesPythonsIds() throws IOException {
        List<String> lines = Files.readAllLines(golden().resolve("cases.txt"), StandardCharsets.UTF_8);
        assertTrue("no cases in cases.txt", lines.size() > 0);
        int checked = 0;
        for (String line : lines) {
            String[] f = line.split(" ");
            String name = f[0], format = f[1], vocabFile = f[5];
            int maxLen = Integer.parseInt(f[2]);
            Tokenizer tokenizer;
            if (format.equals("3")) {
                tokenizer = RegexTokenizer.fromVocab(strings(vocabFile), maxLen, RegexTokenizer.DELIM);
            } else if (format.equals("3-file")) {
                String table = new String(Files.readAllBytes(golden().resolve(vocabFile)), StandardCharsets.UTF_8);
                tokenizer = RegexTokenizer.fromVocabFile(table, maxLen, RegexTokenizer.DELIM);
            } else {
                tokenizer = new WordTokenizer(strings(vocabFile), maxLen, Boolean.parseBoolean(f[3]),
                                              WordTokenizer.PATTERN, Integer.parseInt(f[4]));
            }
            List<String> texts = new ArrayList<>();
            for (String file : f[6].split(",")) {
                texts.addAll(strings(file));
            }
            int[][] want = ids(name + ".ids");
            assertEquals(name + ": texts vs expected rows", texts.size(), want.length);
            for (int i = 0; i < texts.size(); i++) {
                int[] got = tokenizer.encode(texts.get(i));
                if (!Arrays.equals(want[i], got)) {
                    String t = texts.get(i);
                    assertArrayEquals(name + ": text " + i + " (" + t.length() + " chars, starts "
                                      + codePoints(t.substring(0, Math.min(40, t.length()))) + "), tokens "
                                      + tokenizer.tokens(t, maxLen), want[i], got);
                }
                checked++;
            }
        }
        System.out.println("GOLDEN_CHECKED " + checked);
    }

    private static String codePoints(String s) {
        StringBuilder out = new StringBuilder();
        s.codePoints().forEach(cp -> out.append(String.format("U+%04X ", cp)));
        return out.toString().trim();
    }

    private static List<String> strings(String file) throws IOException {
        try (DataInputStream in = open(file)) {
            int n = in.readInt();
            List<String> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                char[] units = new char[in.readInt()];
                for (int j = 0; j < units.length; j++) {
                    units[j] = in.readChar();
                }
                out.add(new String(units));
            }
            return out;
        }
    }

    private static int[][] ids(String file) throws IOException {
        try (DataInputStream in = open(file)) {
            int[][] out = new int[in.readInt()][in.readInt()];
            for (int[] row : out) {
                for (int j = 0; j < row.length; j++) {
                    row[j] = in.readInt();
                }
            }
            return out;
        }
    }

    private static DataInputStream open(String file) throws IOException {
        return new DataInputStream(new BufferedInputStream(new FileInputStream(golden().resolve(file).toFile()), 1 << 16));
    }
}
