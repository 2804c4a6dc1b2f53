"""Why did a model answer as it did: word attributions for the teacher, the Keras student and any ``.tflite``.

Every explainer scores the same units, the student's words (:mod:`~kdedge.explain.words`), so the
teacher's, the float student's and the int8 file's explanations of one text line up word by word.

    words.py         the student's words of a text with their character spans; word-piece -> word maps
    ig.py            Integrated Gradients: the Keras student (on its embedding output) and the BERT
                     teacher (on ``inputs_embeds``), summed onto words; completeness error
    shapley.py       model-agnostic Shapley values by permutation sampling over words (any callable on
                     word masks: a ``.tflite`` through LiteRT, int8 included)
    faithfulness.py  ERASER comprehensiveness / sufficiency and AOPC, with a random-ranking baseline
    agreement.py     Spearman, top-k and sign agreement between two explanations, permutation baseline
"""
