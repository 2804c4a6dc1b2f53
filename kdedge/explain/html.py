"""Words highlighted by their attribution scores: the markup of ``explain.html`` and of the ``kdedge serve``
page's "Why?" box (no TensorFlow: the server imports it)."""

from __future__ import annotations

import html

STYLE = "span.w{padding:1px 2px;border-radius:3px}"
LEGEND = ("Green: the word pushes towards the predicted label; red: against it (opacity = |score| relative to "
          "the text's largest). Hover a word for its score.")


def highlight(words, scores) -> str:
    """``<span>`` per word, its background green (positive score) or red (negative), opacity ∝ |score|."""
    top = max([abs(float(s)) for s in scores] + [1e-12])
    spans = []
    for w, s in zip(words, scores):
        s = float(s)
        alpha = min(1.0, abs(s) / top)
        color = f"rgba(34,139,34,{alpha:.2f})" if s > 0 else f"rgba(200,40,40,{alpha:.2f})"
        spans.append(f'<span class="w" style="background:{color}" title="{s:+.4f}">{html.escape(w)}</span>')
    return " ".join(spans)
