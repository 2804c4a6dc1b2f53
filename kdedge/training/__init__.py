"""Training: the teacher's fine-tuning, the distillation loop, and what they run on.

    losses.py       the distillation loss (soft KL or MSE, hard, gold) and its weight schedule
    batching.py     length-bucketed batches
    distribute.py   tf.distribute strategies for the teacher's fine-tuning and labeling
    logit_store.py  the content-addressed on-disk store of teacher logits
    labeling.py     the teacher's batched forward passes: logits, hidden states
    beam_labeling.py  the same labeling as an Apache Beam pipeline (RunInference), into the store
    fine_tune.py    fine-tuning the teacher (checkpointed, resumable)
    embedding_init.py  the student's initial embeddings, distilled from the teacher
    transfer.py     the transfer set and its teacher logits, through the store
    distill.py      train_student (distillation, the labels-only twin, compressed variants), predict
    variant.py      one compressed variant: its steps, fine-tune and QAT
"""
