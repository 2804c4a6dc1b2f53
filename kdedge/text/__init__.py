"""Text for the students: the word tokenizer family and transfer-set augmentation.

    tokenizer.py  WordTokenizer (kdedge-word-tokenizer/1), HashedWordTokenizer (/2), load_tokenizer, fnv1a32
    augment.py    Tang et al.'s masking, n-gram sampling and neighbour replacement
"""
