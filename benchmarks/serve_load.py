"""Load benchmark of ``kdedge serve``: requests/s, texts/s and latency under concurrency, beside the
in-process cost of the same texts, so the HTTP framework's share is visible.

For each ``--workers`` setting a ``kdedge serve MODEL`` is started on loopback in its own process group
(:func:`kdedge.serve.process.running_server`) and driven by Debian's ``wrk`` (one wrk thread; its Lua
script cycles through POST bodies of real eval texts, ``--texts`` per request) at each
``--concurrency`` for ``--duration`` seconds after a short untimed warm-up. wrk's own figures are
kept: requests/s, latency p50/p90/p99 (``--latency``, HdrHistogram), non-2xx answers and socket
errors; texts/s = requests/s × texts per request. After each cell the server's ``/metrics`` gives
the micro-batch sizes it ran.

The in-process column is ``kdedge.TextClassifier.probabilities`` on the same request bodies in this
process (one request's texts per call, 1 thread): the model + tokenizer cost per text with no HTTP,
JSON or scheduling around it. On this 2-core machine wrk and the server share the cores; the report
says so.

Usage::

    python benchmarks/serve_load.py --model runs/sst2/export/student_int8.tflite --data runs/sst2/data \\
        --out benchmarks/results/serve
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_named_report
from kdedge.io import write_figure

TARGETS = {"rps_c16_single": 1500.0, "p99_ms_c16_single": 30.0, "texts_per_s_32": 15000.0}

LUA = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/v1/classify", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'KDEDGE {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="the .tflite (or export folder) to serve")
    ap.add_argument("--data", type=Path, required=True, help="a data stage folder: its eval texts make the bodies")
    ap.add_argument("--out", type=Path, default=RESULTS / "serve", help="report folder (default: %(default)s)")
    ap.add_argument("--workers", default="1,2", help="comma-separated --workers settings (default: %(default)s)")
    ap.add_argument("--concurrency", default="1,16,64", help="open connections (default: %(default)s)")
    ap.add_argument("--texts", default="1,32", help="texts per request (default: %(default)s)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per cell (default: %(default)s)")
    ap.add_argument("--warmup", type=float, default=2.0, help="untimed seconds per cell first (default: %(default)s)")
    ap.add_argument("--profile", action="store_true",
                    help="also sample the server with py-spy during the 1-worker, 1-text, 16-connection cell and "
                         "report where its time goes (needs `pip install py-spy`)")
    ap.add_argument("--serve-flag", action="append", default=[], metavar="FLAG",
                    help="extra kdedge serve flag, repeatable (e.g. --serve-flag=--max-wait-ms=2)")
    args = ap.parse_args()
    report = run(args)
    plot(report, args.out / "serve_load.png")
    write_named_report(args.out, "serve_load", report, markdown(report))
    return 0


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def run(args) -> dict:
    from kdedge import TextClassifier
    from kdedge.measure.machine import machine_info
    from kdedge.measure.quality import labeled_eval
    from kdedge.serve.process import running_server

    if shutil.which("wrk") is None:
        raise SystemExit("serve_load: wrk is not installed (apt-get install wrk)")
    texts = labeled_eval(args.data)[0]
    model = args.model
    if model.is_dir():
        model = model / "student_int8.tflite"
    clf = TextClassifier(model, num_threads=1)
    args.out.mkdir(parents=True, exist_ok=True)
    cells, in_process, profile = [], {}, None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bodies = {}
        for k in ints(args.texts):
            reqs = [texts[(i * k + j) % len(texts)] for i in range(len(texts)) for j in range(k)]
            groups = [reqs[i:i + k] for i in range(0, len(reqs), k)]
            bodies[k] = tmp / f"bodies_{k}.jsonl"
            bodies[k].write_text("".join(json.dumps({"texts": g}) + "\n" for g in groups))
            in_process[k] = in_process_cost(clf, groups)
        for workers in ints(args.workers):
            flags = ["--workers", str(workers), "--max-chars", str(max(map(len, texts)) + 1), *args.serve_flag]
            print(f"[serve_load] workers {workers}", file=sys.stderr, flush=True)
            with running_server(model, tmp / f"serve_{workers}.log", *flags) as (url, proc):
                for k in ints(args.texts):
                    script = tmp / f"post_{k}.lua"
                    script.write_text(LUA % {"bodies": bodies[k]})
                    for c in ints(args.concurrency):
                        before = batch_stats(url)
                        wrk(url, script, c, args.warmup)
                        mid = batch_stats(url)
                        got = wrk(url, script, c, args.duration)
                        after = batch_stats(url)
                        n = after["count"] - mid["count"]
                        cell = {"workers": workers, "texts_per_request": k, "concurrency": c, **got,
                                "texts_per_s": got["requests_per_s"] * k,
                                "mean_batch": (after["sum"] - mid["sum"]) / n if n else None,
                                "model_calls": n, "warmup_model_calls": mid["count"] - before["count"],
                                "in_process_ms_per_text": in_process[k]["ms_per_text"]}
                        cells.append(cell)
                        if args.profile and (workers, k, c) == (1, 1, 16):  # an extra pass, not in the table
                            spy = start_profile(proc.pid, args.duration, tmp / "profile.txt", args.out)
                            profiled = wrk(url, script, c, args.duration)
                            profile = finish_profile(spy, tmp / "profile.txt") | {"profiled_pass": profiled}
                        print(f"[serve_load] w{workers} k{k} c{c}: {got['requests_per_s']:.0f} req/s, "
                              f"p99 {got['p99_ms']:.2f} ms, mean batch {cell['mean_batch']}", file=sys.stderr,
                              flush=True)
    return {"schema": "kdedge-serve-load/1", "command": "python benchmarks/serve_load.py " + shlex.join(sys.argv[1:]),
            "machine": {**machine_info((1,)), "wrk": wrk_version()}, "model": str(model), "sha256": sha256(model),
            "eval_texts": len(texts), "duration_s": args.duration,
            "warmup_s": args.warmup, "serve_flags": args.serve_flag, "in_process": in_process, "cells": cells,
            "profile": profile, "targets": targets(cells)}


def sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def in_process_cost(clf, groups: list[list[str]], seconds: float = 3.0) -> dict:
    """ms per text of ``clf.probabilities(group)`` over the request bodies (after 20 untimed calls)."""
    for g in groups[:20]:
        clf.probabilities(g)
    times, n_texts, i = [], 0, 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(times) < 50:
        g = groups[i % len(groups)]
        t0 = time.perf_counter()
        clf.probabilities(g)
        times.append(time.perf_counter() - t0)
        n_texts += len(g)
        i += 1
    ms = np.asarray(times) * 1000
    return {"calls": len(times), "texts": n_texts, "ms_per_call_p50": float(np.median(ms)),
            "ms_per_text": float(ms.sum() / n_texts), "texts_per_s": float(n_texts / (ms.sum() / 1000))}


# Where a server's samples go: the first category matching a frame, walking from the innermost frame out.
PROFILE_CATEGORIES = (
    ("model (LiteRT invoke, tensors in/out)", ("ai_edge_litert", "kdedge/runtime.py", "_run (kdedge/classifier.py")),
    ("tokenizer", ("kdedge/text/",)),
    ("softmax, batching, result rows", ("kdedge/classifier.py", "kdedge/serve/batcher.py")),
    ("metrics (prometheus-client)", ("prometheus_client",)),
    ("request parsing and validation (JSON, pydantic)", ("pydantic", "json/decoder", "json/__init__")),
    ("response encoding (JSON)", ("json/encoder", "starlette/responses")),
    ("kdedge route and middleware code", ("kdedge/serve/app.py",)),
    ("FastAPI / Starlette (routing, body handling; pydantic-core native validation is counted here)",
     ("fastapi", "starlette")),
    ("HTTP protocol (uvicorn, httptools)", ("uvicorn", "httptools")),
    ("event loop (asyncio, uvloop)", ("asyncio", "uvloop")),
)


def start_profile(pid: int, seconds: float, raw: Path, out: Path):
    """py-spy sampling ``pid`` (every thread, GIL-holding or not, idle excluded) for ``seconds``."""
    if shutil.which("py-spy") is None:
        raise SystemExit("serve_load: --profile needs py-spy (pip install py-spy)")
    cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "250",
           "--format", "raw", "--output", str(raw)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out


def finish_profile(spy, raw: Path) -> dict:
    proc, out = spy
    proc.wait(timeout=120)
    # The collapsed stacks, for speedscope, flamegraph.pl or inferno (gunzip first).
    (out / "serve_profile.txt.gz").write_bytes(gzip.compress(raw.read_bytes(), mtime=0))
    counts: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            continue  # the executor thread that loaded the model, waiting on its queue: idle
        n = int(n)
        total += n
        name = "other Python"
        for frame in reversed(frames):
            hit = next((cat for cat, keys in PROFILE_CATEGORIES if any(k in frame for k in keys)), None)
            if hit:
                name = hit
                break
        counts[name] = counts.get(name, 0) + n
    shares = sorted(((k, v / total) for k, v in counts.items()), key=lambda kv: -kv[1])
    return {"samples": total, "tool": "py-spy record (raw, 250 Hz, idle excluded)", "stacks": "serve_profile.txt.gz",
            "cell": {"workers": 1, "texts_per_request": 1, "concurrency": 16},
            "shares": [{"category": k, "share": v} for k, v in shares]}


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
           "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    m = re.search(r"^KDEDGE (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    d = json.loads(m.group(1))
    dur = d["duration_us"] / 1e6
    return {"requests": d["requests"], "seconds": dur, "requests_per_s": d["requests"] / dur,
            "p50_ms": d["p50_us"] / 1000, "p90_ms": d["p90_us"] / 1000, "p99_ms": d["p99_us"] / 1000,
            "max_ms": d["max_us"] / 1000, "mean_ms": d["mean_us"] / 1000, "non2xx": d["non2xx"],
            "socket_errors": d["connect"] + d["read"] + d["write"] + d["timeout"]}


def batch_stats(url: str) -> dict:
    """Sum and count of the server's ``kdedge_model_batch_size`` histogram."""
    from kdedge.serve.process import http
    text = http(url + "/metrics")[1]
    get = {name: float(re.search(rf"^kdedge_model_batch_size_{name} (\S+)$", text, re.M).group(1))
           for name in ("sum", "count")}
    return get


def wrk_version() -> str:
    p = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (p.stdout + p.stderr).splitlines()[0].strip()


def targets(cells: list[dict]) -> list[dict]:
    best = {}
    for c in cells:
        key = (c["texts_per_request"], c["concurrency"])
        if key not in best or c["requests_per_s"] > best[key]["requests_per_s"]:
            best[key] = c
    out = []
    single = best.get((1, 16))
    if single:
        out.append({"target": f"≥ {TARGETS['rps_c16_single']:,.0f} single-text requests/s at concurrency 16",
                    "measured": single["requests_per_s"], "met": single["requests_per_s"] >= TARGETS["rps_c16_single"],
                    "shown": f"{single['requests_per_s']:,.0f} req/s (workers {single['workers']})"})
        out.append({"target": f"p99 ≤ {TARGETS['p99_ms_c16_single']:g} ms there", "measured": single["p99_ms"],
                    "met": single["p99_ms"] <= TARGETS["p99_ms_c16_single"], "shown": f"{single['p99_ms']:.2f} ms"})
    batched = [c for c in cells if c["texts_per_request"] == 32]
    if batched:
        top = max(batched, key=lambda c: c["texts_per_s"])
        out.append({"target": f"≥ {TARGETS['texts_per_s_32']:,.0f} texts/s with 32-text requests",
                    "measured": top["texts_per_s"], "met": top["texts_per_s"] >= TARGETS["texts_per_s_32"],
                    "shown": f"{top['texts_per_s']:,.0f} texts/s (workers {top['workers']}, "
                             f"concurrency {top['concurrency']})"})
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# kdedge serve under load", "", "```", report["command"], "```", "",
             f"- Model: `{report['model']}`; request bodies cycle through the {report['eval_texts']} eval texts.",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; {m['wrk']} (1 thread) on the same cores as "
             "the server, over loopback. Each cell: "
             f"{report['warmup_s']:g} s untimed, then {report['duration_s']:g} s timed; latency is wrk's "
             "(HdrHistogram), from request written to reply read.",
             "- `in-process ms/text`: `TextClassifier.probabilities` on the same bodies in one process, no HTTP "
             "(one request's texts per call, 1 thread); `mean batch`: texts per model call in the server "
             "(its /metrics), i.e. what micro-batching merged.", "",
             "| workers | texts/request | concurrency | requests/s | texts/s | p50 ms | p90 ms | p99 ms | "
             "non-2xx | mean batch | in-process ms/text | server ms/text |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in report["cells"]:
        server_ms = 1000 * c["workers"] / c["texts_per_s"] if c["texts_per_s"] else float("nan")
        batch = "" if c["mean_batch"] is None else f"{c['mean_batch']:.1f}"
        lines.append(f"| {c['workers']} | {c['texts_per_request']} | {c['concurrency']} | "
                     f"{c['requests_per_s']:,.0f} | {c['texts_per_s']:,.0f} | {c['p50_ms']:.2f} | {c['p90_ms']:.2f} | "
                     f"{c['p99_ms']:.2f} | {c['non2xx'] + c['socket_errors']} | "
                     f"{batch} | "
                     f"{c['in_process_ms_per_text']:.4f} | {server_ms:.4f} |")
    lines += ["", "`server ms/text` = workers ÷ texts/s: the wall time each worker spends per text, everything "
                  "included (HTTP, JSON, scheduling, model; wrk's share of the cores too).", "",
              "![throughput and latency](serve_load.png)", "", "## Targets (issue 12)", "",
              "| target | measured | met |", "|---|---:|:---:|"]
    lines += [f"| {t['target']} | {t['shown']} | {'yes' if t['met'] else 'NO'} |" for t in report["targets"]]
    prof = report.get("profile")
    if prof:
        c = prof["cell"]
        lines += ["", f"## Where the server's time goes ({c['workers']} worker, {c['texts_per_request']} text per "
                      f"request, {c['concurrency']} connections)", "",
                  f"{prof['tool']}, {prof['samples']:,} samples of the server process in an extra "
                  f"{report['duration_s']:g} s pass of that cell (not in the table above; sampling pauses the "
                  f"server: {prof['profiled_pass']['requests_per_s']:,.0f} req/s during it); each "
                  "sample is counted under the innermost frame that belongs to a category "
                  f"(the collapsed stacks: [{prof['stacks']}]({prof['stacks']}), for speedscope or flamegraph.pl).",
                  "",
                  "| where | share of samples |", "|---|---:|"]
        lines += [f"| {s['category']} | {100 * s['share']:.1f}% |" for s in prof["shares"]]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for (workers, k) in sorted({(c["workers"], c["texts_per_request"]) for c in report["cells"]}):
        cs = [c for c in report["cells"] if c["workers"] == workers and c["texts_per_request"] == k]
        xs = [c["concurrency"] for c in cs]
        label = f"{workers} worker{'s' if workers > 1 else ''}, {k} text{'s' if k > 1 else ''}/req"
        axes[0].plot(xs, [c["texts_per_s"] for c in cs], marker="o", label=label)
        axes[1].plot(xs, [c["p99_ms"] for c in cs], marker="o", label=label)
    for ax, title in zip(axes, ("texts/s", "p99 latency, ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent connections")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    write_figure(path, fig)


if __name__ == "__main__":
    sys.exit(main())
