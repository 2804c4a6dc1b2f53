"""Progress bars for long loops: shown on a terminal, silent in logs and CI."""

from tqdm.auto import tqdm


def progress(iterable=None, **kwargs):
    """``tqdm`` that disables itself when stderr is not a terminal (``disable=None``)."""
    kwargs.setdefault("disable", None)
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def progress_bytes(total: int | None, initial: int, desc: str):
    """A byte-count bar (a download): ``total`` bytes, ``initial`` already there."""
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None, mininterval=0.5, dynamic_ncols=True)
