"""Measurement of exported models: quality, latency, memory, size, and their reports.

    stats.py     percentiles, the median's distribution-free CI, noise tests
    metrics.py   accuracy, macro P/R/F1, confusion matrix, ECE
    inputs.py    real-text inputs for a model, tokenized as its app would
    timing.py    adaptive timing of single invoke() calls
    probe.py     load time, first call and peak RSS in a fresh process (``python -m kdedge.measure.probe``)
    quality.py   a .tflite's label metrics on the eval split; ratios to the teacher and float student
    machine.py   the machine and software manifest
    report.py    bench reports as Markdown; write_report
    plots.py     accuracy vs latency / size (Pareto), latency vs threads
    compare.py   ``kdedge bench compare``: deltas beyond the measured noise
    device/      device mode: the same grid on an Android phone over adb

Importing this package (or ``probe``) imports no TensorFlow.
"""
