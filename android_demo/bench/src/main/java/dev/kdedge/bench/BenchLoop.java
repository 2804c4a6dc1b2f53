package dev.kdedge.bench;

/** The timing loop of benchmark mode: untimed warm-up calls, then timed ones, by System.nanoTime. */
public final class BenchLoop {
    /** One inference; {@code index} counts every call from 0 (warm-up included). */
    public interface Call {
        void run(int index) throws Exception;
    }

    /** What {@link #time} measured, in microseconds. */
    public static final class Timings {
        /** The first call (the first warm-up call; the first timed one when there is no warm-up). */
        public final long firstUs;
        public final long[] latenciesUs;

        Timings(long firstUs, long[] latenciesUs) {
            this.firstUs = firstUs;
            this.latenciesUs = latenciesUs;
        }
    }

    private BenchLoop() {}

    /** Run {@code warmup} untimed calls, then {@code runs} timed ones, one after another on this thread. */
    public static Timings time(Call call, int warmup, int runs) throws Exception {
        if (runs < 1 || runs > BenchLine.MAX_RUNS || warmup < 0) {
            throw new IllegalArgumentException("runs must be 1.." + BenchLine.MAX_RUNS + " and warmup >= 0, got runs="
                                               + runs + " warmup=" + warmup);
        }
        long first = -1;
        for (int i = 0; i < warmup; i++) {
            long t0 = System.nanoTime();
            call.run(i);
            if (i == 0) {
                first = (System.nanoTime() - t0) / 1000;
            }
        }
        long[] latencies = new long[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            call.run(warmup + i);
            latencies[i] = (System.nanoTime() - t0) / 1000;
        }
        return new Timings(first < 0 ? latencies[0] : first, latencies);
    }
}
