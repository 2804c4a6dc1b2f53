package dev.kdedge.bench;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.AfterClass;
import org.junit.Test;

/**
 * The benchmark line's Java side. Every line formatted here is also written to the file
 * {@code -Dkdedge.bench.out}, where tests/android/test_bench_contract.py parses it with
 * {@code kdedge bench --app}'s own parser and checks it against android_demo/bench/contract.json.
 */
public class BenchLineTest {
    private static final List<String> OUT = new ArrayList<>();

    private static BenchRun run(String runId, long... latencies) {
        BenchRun r = new BenchRun();
        r.runId = runId;
        r.model = "/data/local/tmp/kdedge/models/student_int8.tflite";
        r.modelSha256 = "5f1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
        r.inputs = "/data/local/tmp/kdedge/inputs/student_int8.input_ids.bin";
        r.threads = 4;
        r.xnnpack = false;
        r.warmup = 2;
        r.initUs = 5300;
        r.firstUs = 2400;
        r.latenciesUs = latencies;
        r.manufacturer = "Google";
        r.deviceModel = "Pixel 7";
        r.sdk = 34;
        r.abi = "arm64-v8a";
        return r;
    }

    private static void emit(String line) {
        assertFalse("one line", line.contains("\n") || line.contains("\r"));
        OUT.add(line);
    }

    @Test
    public void resultLineAndPercentiles() {
        long[] us = {1300, 1000, 1900, 1100, 1500, 1200, 1800, 1400, 1700, 1600};
        emit(BenchLine.result(run("fixture-10", us)));
        // numpy.percentile(us, [50, 90, 99]) = 1450, 1810, 1891
        assertEquals(1450.0, BenchLine.percentile(us, 50), 1e-9);
        assertEquals(1810.0, BenchLine.percentile(us, 90), 1e-9);
        assertEquals(1891.0, BenchLine.percentile(us, 99), 1e-9);
        assertEquals(7.0, BenchLine.percentile(new long[] {7}, 99), 1e-9);
        OUT.add("PERCENTILES fixture-10 " + BenchLine.percentile(us, 50) + " " + BenchLine.percentile(us, 90) + " "
                + BenchLine.percentile(us, 99));
    }

    @Test
    public void stringsAreEscaped() {
        BenchRun r = run("odd \"strings\" \\ ü 😀", 5);
        r.model = "/sdcard/Download/a \"b\"\n\\c.tflite";
        r.manufacturer = "\u2028\t\u0000";
        emit(BenchLine.result(r));
        emit(BenchLine.error("err-1", new IllegalArgumentException(
            "Cannot copy to a TensorFlowLite tensor (serving_default_input_ids:0) with 512 bytes\nfrom \"x\"")));
        emit(BenchLine.error("err-2", new NullPointerException()));
    }

    @Test
    public void maxRunsFitOneLogcatEntry() {
        long[] us = new long[BenchLine.MAX_RUNS];
        Arrays.fill(us, 999_999);
        String line = BenchLine.result(run("max-runs", us));
        assertTrue(line.getBytes(StandardCharsets.UTF_8).length <= BenchLine.MAX_LINE_BYTES);
        emit(line);
        Arrays.fill(us, 10_000_000);  // 10 s per run: the line would be cut
        assertThrows(IllegalArgumentException.class, () -> BenchLine.result(run("too-long", us)));
        assertThrows(IllegalArgumentException.class, () -> BenchLine.result(run("none")));
        assertThrows(IllegalArgumentException.class, () -> BenchLine.result(run("many", new long[BenchLine.MAX_RUNS + 1])));
    }

    @Test
    public void loopTimesEveryCallInOrder() throws Exception {
        List<Integer> calls = new ArrayList<>();
        BenchLoop.Timings t = BenchLoop.time(i -> {
            calls.add(i);
            double x = 0;
            for (int k = 0; k < 20_000; k++) {
                x += Math.sqrt(k);
            }
            if (x < 0) {
                throw new AssertionError();
            }
        }, 3, 7);
        assertEquals(Arrays.asList(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), calls);
        assertEquals(7, t.latenciesUs.length);
        assertTrue(t.firstUs >= 0 && Arrays.stream(t.latenciesUs).allMatch(v -> v >= 0));
        BenchRun r = run("loop", t.latenciesUs);
        r.warmup = 3;
        r.firstUs = t.firstUs;
        emit(BenchLine.result(r));
        assertEquals(0, BenchLoop.time(i -> { }, 0, 1).latenciesUs.length - 1);
    }

    @Test
    public void readsTheInputFileKdedgePushes() throws IOException {
        String path = System.getProperty("kdedge.bench.inputs");
        if (path == null) {
            return;  // run without the pytest driver
        }
        int maxLen = Integer.getInteger("kdedge.bench.max_len");
        int[][] rows = InputRows.read(new File(path), maxLen);
        StringBuilder s = new StringBuilder("INPUT_ROWS " + rows.length + " " + InputRows.sha256(new File(path)));
        for (int[] row : rows) {
            for (int id : row) {
                s.append(' ').append(id);
            }
        }
        OUT.add(s.toString());
        assertThrows(IOException.class, () -> InputRows.read(new File(path), maxLen + 1));
    }

    @AfterClass
    public static void writeLines() throws IOException {
        String path = System.getProperty("kdedge.bench.out");
        OUT.add("CONTRACT " + BenchLine.SCHEMA + " " + BenchLine.TAG + " " + BenchLine.MAX_RUNS + " "
                + BenchLine.RESULT_PREFIX.trim() + " " + BenchLine.ERROR_PREFIX.trim() + " "
                + String.join(",", BenchLine.EXTRA_MODEL, BenchLine.EXTRA_INPUTS, BenchLine.EXTRA_THREADS,
                              BenchLine.EXTRA_XNNPACK, BenchLine.EXTRA_RUNS, BenchLine.EXTRA_WARMUP,
                              BenchLine.EXTRA_RUN_ID));
        if (path != null) {
            Files.write(new File(path).toPath(), OUT, StandardCharsets.UTF_8);
        }
    }
}
