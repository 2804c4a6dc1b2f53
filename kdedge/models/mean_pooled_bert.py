"""A BERT sequence classifier that reads the mean of the last layer's token vectors instead of [CLS].

Hugging Face's ``TFBertForSequenceClassification`` classifies ``tanh(W h_[CLS])`` (BERT's pooler).
all-MiniLM-L6-v2, the default teacher, was trained as a sentence encoder through the *mean* of its
token vectors (its ``1_Pooling/config.json``: ``pooling_mode_mean_tokens``); its [CLS] vector and
pooler were never trained for that job. :class:`TFBertMeanPooledClassifier` keeps the same weights
(the pooler stays in the checkpoint, unused, so a folder loads either way) and only changes what the
classifier reads: ``dropout(mean of h_i over the attention mask)``. It is a subclass, so everything that
calls the teacher (labeling, export, explain) works unchanged; ``kdedge_pooling`` in the checkpoint's
``config.json`` says which class :func:`kdedge.models.teacher.load_teacher` builds.

This module imports TensorFlow and transformers: import it lazily.
"""

from __future__ import annotations

import tensorflow as tf
from transformers import TFBertForSequenceClassification
from transformers.modeling_tf_outputs import TFSequenceClassifierOutput
from transformers.modeling_tf_utils import unpack_inputs


def masked_mean(hidden, attention_mask):
    """Mean of ``hidden [b, n, d]`` over the positions where ``attention_mask [b, n]`` is 1 (all if None)."""
    if attention_mask is None:
        return tf.reduce_mean(hidden, axis=1)
    mask = tf.cast(attention_mask, hidden.dtype)[:, :, None]
    return tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


class TFBertMeanPooledClassifier(TFBertForSequenceClassification):
    """``TFBertForSequenceClassification`` whose classifier reads the masked mean of the last hidden states."""

    @unpack_inputs
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None,
             labels=None, training=False):
        outputs = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True, training=training)
        pooled = masked_mean(outputs.last_hidden_state, attention_mask)
        logits = self.classifier(self.dropout(pooled, training=training))
        loss = None if labels is None else self.hf_compute_loss(labels=labels, logits=logits)
        return TFSequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)
