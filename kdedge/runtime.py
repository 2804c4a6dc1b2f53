"""Load and run ``.tflite`` files with LiteRT.

``ai_edge_litert`` is the maintained runtime. ``tflite_runtime`` is only a
fallback import: version 2.14 fails to load under numpy 2, and
``tf.lite.Interpreter`` is deprecated, so neither is the default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError:  # optional fallback, see module docstring
        from tflite_runtime import interpreter
    return interpreter


class TFLiteModel:
    """A ``.tflite`` model with named inputs, run one example at a time.

    Args:
        path: the ``.tflite`` file (or its bytes via ``content``).
        num_threads: CPU threads for the interpreter.
        xnnpack: apply the default delegate (XNNPACK, what LiteRT does unless told
            otherwise); False runs the builtin reference/optimized kernels only.
        name: what error messages call the model (default: the path).

    Raises:
        StageInputError: the file is unreadable, not a ``.tflite`` (no ``TFL3`` identifier), or
            LiteRT refuses it; one line naming it.
    """

    def __init__(self, path: str | Path | None = None, num_threads: int = 1, content: bytes | None = None,
                 xnnpack: bool = True, name: str | None = None):
        from kdedge.errors import StageInputError

        where = name or (str(path) if content is None else "model bytes")
        if content is None:
            try:
                with open(path, "rb") as f:
                    head = f.read(8)
            except OSError as e:
                raise StageInputError(f"{where}: cannot read it ({e.strerror})") from None
        else:
            head = bytes(content[:8])
        if head[4:8] != b"TFL3":  # the flatbuffer file identifier of every .tflite
            raise StageInputError(f"{where}: not a .tflite file (no TFL3 identifier at byte 4)")
        mod = _interpreter_module()
        resolver = (mod.OpResolverType.AUTO if xnnpack
                    else mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        source = {"model_content": content} if content is not None else {"model_path": str(path)}
        try:
            self.interpreter = mod.Interpreter(**source, num_threads=num_threads,
                                               experimental_op_resolver_type=resolver)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise StageInputError(f"{where}: LiteRT cannot load it ({first})") from None
        self.inputs = {d["name"]: d for d in self.interpreter.get_input_details()}
        self.output = self.interpreter.get_output_details()[0]

    def input_shape(self, name: str | None = None) -> tuple[int, ...]:
        d = self.inputs[name] if name else next(iter(self.inputs.values()))
        return tuple(int(x) for x in d["shape"])

    def set_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        """Set inputs by name; a name is matched by substring (TFLite may prefix it)."""
        for key, value in feeds.items():
            detail = self._find(key)
            self.interpreter.set_tensor(detail["index"], np.asarray(value, dtype=detail["dtype"]))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def output_value(self) -> np.ndarray:
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self.output.get("quantization", (0.0, 0))
        if scale:  # an integer output: dequantize
            out = (out.astype(np.float32) - zero) * scale
        return out

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self.set_inputs(feeds)
        self.invoke()
        return self.output_value()

    def _find(self, key: str) -> dict:
        if key in self.inputs:
            return self.inputs[key]
        matches = [d for name, d in self.inputs.items() if key in name]
        if len(matches) != 1:
            raise KeyError(f"input {key!r} not found among {sorted(self.inputs)}")
        return matches[0]
