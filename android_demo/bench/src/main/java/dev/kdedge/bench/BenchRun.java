package dev.kdedge.bench;

/** What one benchmark run measured and ran with: the fields of a {@code KDEDGE_BENCH} line. */
public final class BenchRun {
    public String runId = "", model = "", modelSha256 = "", inputs = "";
    public int threads = 1, warmup;
    public boolean xnnpack = true;
    /** Interpreter creation + tensor allocation; the first call after it. */
    public long initUs, firstUs;
    /** Wall time of each timed call, in run order. */
    public long[] latenciesUs = new long[0];
    public String manufacturer = "", deviceModel = "", abi = "";
    public int sdk;
}
