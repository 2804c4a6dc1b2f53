package dev.kdedge.bench;

import java.io.DataInputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** The files kdedge pushes: token-id rows to feed, and the model whose SHA-256 the line reports. */
public final class InputRows {
    private InputRows() {}

    /**
     * The {@code inputs} extra's file: raw little-endian int32, N rows of {@code maxLen} ids
     * (N = size / (4 * maxLen)), as kdedge/measure/device/run.py writes it.
     *
     * @throws IOException unreadable, or its size is not a whole number of rows.
     */
    public static int[][] read(File file, int maxLen) throws IOException {
        byte[] bytes = new byte[(int) file.length()];
        try (DataInputStream in = new DataInputStream(new FileInputStream(file))) {
            in.readFully(bytes);  // java.nio.file needs Android 8 (API 26); the app runs from API 24
        }
        if (maxLen < 1 || bytes.length == 0 || bytes.length % (4 * maxLen) != 0) {
            throw new IOException(file + ": " + bytes.length + " bytes is not a whole number of rows of " + maxLen
                                  + " int32 ids");
        }
        IntBuffer ints = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        int[][] rows = new int[bytes.length / (4 * maxLen)][maxLen];
        for (int[] row : rows) {
            ints.get(row);
        }
        return rows;
    }

    /** The hex SHA-256 of a file (the line's {@code model_sha256}; kdedge checks it against manifest.json). */
    public static String sha256(File file) throws IOException {
        try (InputStream in = new FileInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
            StringBuilder hex = new StringBuilder();
            for (byte b : digest.digest()) {
                hex.append(String.format("%02x", b & 0xFF));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
