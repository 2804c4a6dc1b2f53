"""The pipeline's stages, one module each: its config dataclass (every field a flag) and its ``run_*``.

    data.py      DataConfig, run_data          a dataset's splits as JSONL
    teacher.py   TeacherConfig, run_teacher    fine-tune the BERT teacher
    ensemble.py  EnsembleConfig, run_ensemble  (optional) several teachers as one: the mean of their logits
    student.py   StudentConfig, run_student    the student's tokenizer and initialized model
    label.py     LabelConfig, run_label        (optional) the teacher's logits into the store, on Apache Beam
    distill.py   DistillConfig, run_distill    train the student on the teacher's logits (+ labels-only twin)
    compress.py  CompressConfig, run_compress  smaller variants: vocabulary, factorization, pruning, QAT
    export.py    ExportConfig, run_export      every model to .tflite, checked, behind the retention gate
    bench.py     BenchConfig, run_bench        size, accuracy, latency and memory of every .tflite
    explain.py   ExplainConfig, run_explain    word attributions of teacher, students and .tflite files

Each reads the previous stages' folders by the names in :mod:`kdedge.layout` and
writes its own, ``config.json`` last. Importing a stage imports no TensorFlow;
running it does.
"""
