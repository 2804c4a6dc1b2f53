"""Progress bars for long loops: shown on a terminal, silent in logs and CI."""

from tqdm.auto import tqdm


def progress(iterable=None, **kwargs):
    """``tqdm`` that disables itself when stderr is not a terminal (``disable=None``)."""
    kwargs.setdefault("disable", None)
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
