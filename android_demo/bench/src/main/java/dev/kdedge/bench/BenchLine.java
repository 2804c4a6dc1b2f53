package dev.kdedge.bench;

/**
 * The app's side of the benchmark contract (android_demo/bench/contract.json, schema
 * {@code kdedge-device/1}): the one logcat line per run that {@code kdedge bench --adb --app} parses.
 *
 * <p>The activity logs {@link #result} at INFO (or {@link #error} at ERROR) with tag {@link #TAG};
 * every latency goes on that one line, which Android cuts at about 4 KB, hence {@link #MAX_RUNS}.
 */
public final class BenchLine {
    public static final String SCHEMA = "kdedge-device/1";
    public static final String TAG = "kdedge-bench";
    public static final String RESULT_PREFIX = "KDEDGE_BENCH ";
    public static final String ERROR_PREFIX = "KDEDGE_BENCH_ERROR ";
    public static final int MAX_RUNS = 400;
    /**
     * Longest line, in UTF-8 bytes, that one logcat entry keeps whole (the kernel logger's payload is
     * 4068 bytes, tag and priority included). 400 runs fit while each takes at most 6 digits (< 1 s).
     */
    public static final int MAX_LINE_BYTES = 4000;
    /** The {@code am start} extras. */
    public static final String EXTRA_MODEL = "model", EXTRA_INPUTS = "inputs", EXTRA_THREADS = "threads",
            EXTRA_XNNPACK = "xnnpack", EXTRA_RUNS = "runs", EXTRA_WARMUP = "warmup", EXTRA_RUN_ID = "run_id";

    private BenchLine() {}

    /**
     * The result line: {@code KDEDGE_BENCH {json}}, one line, fields in the contract's order.
     *
     * @throws IllegalArgumentException no runs, more than {@link #MAX_RUNS}, or a line longer than
     *     {@link #MAX_LINE_BYTES} (logcat would cut it).
     */
    public static String result(BenchRun r) {
        if (r.latenciesUs.length == 0 || r.latenciesUs.length > MAX_RUNS) {
            throw new IllegalArgumentException("runs must be 1.." + MAX_RUNS + ", got " + r.latenciesUs.length);
        }
        StringBuilder s = new StringBuilder(RESULT_PREFIX).append('{');
        field(s, "schema", quote(SCHEMA)).append(", ");
        field(s, "run_id", quote(r.runId)).append(", ");
        field(s, "model", quote(r.model)).append(", ");
        field(s, "model_sha256", quote(r.modelSha256)).append(", ");
        field(s, "inputs", quote(r.inputs)).append(", ");
        field(s, "threads", Integer.toString(r.threads)).append(", ");
        field(s, "xnnpack", Boolean.toString(r.xnnpack)).append(", ");
        field(s, "runs", Integer.toString(r.latenciesUs.length)).append(", ");
        field(s, "warmup", Integer.toString(r.warmup)).append(", ");
        field(s, "init_us", Long.toString(r.initUs)).append(", ");
        field(s, "first_us", Long.toString(r.firstUs)).append(", ");
        StringBuilder list = new StringBuilder("[");
        for (int i = 0; i < r.latenciesUs.length; i++) {
            list.append(i == 0 ? "" : ", ").append(r.latenciesUs[i]);
        }
        field(s, "latencies_us", list.append(']').toString()).append(", ");
        StringBuilder device = new StringBuilder("{");
        field(device, "manufacturer", quote(r.manufacturer)).append(", ");
        field(device, "model", quote(r.deviceModel)).append(", ");
        field(device, "sdk", Integer.toString(r.sdk)).append(", ");
        field(device, "abi", quote(r.abi)).append('}');
        field(s, "device", device.toString());
        String line = s.append('}').toString();
        int bytes = line.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (bytes > MAX_LINE_BYTES) {
            throw new IllegalArgumentException("the result line is " + bytes + " bytes, more than one logcat entry "
                                               + "keeps (" + MAX_LINE_BYTES + "): ask for fewer runs");
        }
        return line;
    }

    /** The failure line: {@code KDEDGE_BENCH_ERROR {json}} with the exception and its message. */
    public static String error(String runId, Throwable e) {
        String message = e.getClass().getName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        return ERROR_PREFIX + "{\"schema\": " + quote(SCHEMA) + ", \"run_id\": " + quote(runId)
               + ", \"error\": " + quote(message) + "}";
    }

    /** The q-th percentile (0..100), linearly interpolated: numpy's default, as kdedge computes it. */
    public static double percentile(long[] values, double q) {
        long[] sorted = values.clone();
        java.util.Arrays.sort(sorted);
        double rank = q / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(rank), hi = (int) Math.ceil(rank);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }

    private static StringBuilder field(StringBuilder s, String name, String json) {
        return s.append('"').append(name).append("\": ").append(json);
    }

    /** A JSON string literal; control characters escaped, so the line stays one line. */
    static String quote(String value) {
        StringBuilder s = new StringBuilder("\"");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '"' || c == '\\') {
                s.append('\\').append(c);
            } else if (c < 0x20 || c == 0x2028 || c == 0x2029 || Character.isSurrogate(c)) {
                s.append(String.format("\\u%04x", (int) c));
            } else {
                s.append(c);
            }
        }
        return s.append('"').toString();
    }
}
