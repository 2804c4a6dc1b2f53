"""The models: the student architectures and their layers, the teacher, and rewrites of a trained student.

    layers.py          MaskedMean, BiLSTMMaxPool, PositionEmbedding, TransformerBlock (registered Keras layers)
    student.py         build_student, load_student (safe_mode), save_student; sizes and latency per arch
    teacher.py         the TF BERT teacher: load a local HF checkpoint, tokenize, word-piece vectors
    embedding.py       vocabulary pruning, OOV hash buckets, factorized embeddings; where the bytes are
    importance.py      teacher-measured word importance (what ``vocab=N`` keeps)

Importing this package imports no TensorFlow; ``layers`` and ``student`` do.
"""

ARCHS = ("cnn", "wordavg", "bilstm", "transformer")  # the student architectures of kdedge.models.student
