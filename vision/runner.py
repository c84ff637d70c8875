"""The TFLite interpreter (``ai-edge-litert``, else ``tflite-runtime``) with a thread count.

Feeds a frame by plain resize to the model's input, scaled to its input range and quantised if
the input is int8/uint8; returns every output dequantised to float32 by name. The backend is
fixed when the model loads and reported (``backend``); it never changes behind the user's back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from vision.boxes import Found
from vision.model import ModelError, ModelSpec, load_labels, load_spec


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter, "tflite-runtime"
    except ImportError:
        raise ModelError(
            "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime)"
        ) from None


class TfliteDetector:
    """One loaded model. Not thread-safe: one per worker thread."""

    def __init__(self, ref: str, threads: int = 1) -> None:
        spec, folder = load_spec(ref)
        self.spec: ModelSpec = spec
        self.labels = load_labels(spec, folder)
        path = folder / spec.file
        if not path.is_file():
            raise ModelError(f"model {spec.name}: {path} does not exist")
        cls, self.backend = _interpreter_class()
        self.threads = threads
        try:
            self._it = cls(model_path=str(path), num_threads=threads)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"model {spec.name}: {path}: {exc}") from None
        self.path: Path = path
        inp = self._it.get_input_details()[0]
        self._input_index = inp["index"]
        _, self.height, self.width, _ = (int(v) for v in inp["shape"])
        self._input_dtype = inp["dtype"]
        self._input_q = inp["quantization"]
        self._outputs = self._it.get_output_details()
        self.output_names = [str(d["name"]) for d in self._outputs]
        lo, hi = spec.input_range
        self._scale, self._offset = (hi - lo) / 255.0, lo
        self.last_invoke_ms = 0.0

    def prepare(self, rgb: Any) -> Any:
        """An RGB uint8 image (any size) as the model's input tensor."""
        import cv2

        img = rgb if self.spec.color == "rgb" else rgb[..., ::-1]
        if img.shape[0] != self.height or img.shape[1] != self.width:
            img = cv2.resize(img, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        x = img.astype(np.float32) * self._scale + self._offset
        if self._input_dtype in (np.uint8, np.int8):
            scale, zero = self._input_q
            info = np.iinfo(self._input_dtype)
            x = np.clip(np.round(x / (scale or 1.0) + zero), info.min, info.max)
        return x.astype(self._input_dtype)[None, ...]

    def infer(self, rgb: Any) -> dict[str, Any]:
        self._it.set_tensor(self._input_index, self.prepare(rgb))
        t0 = time.perf_counter()
        self._it.invoke()
        self.last_invoke_ms = (time.perf_counter() - t0) * 1000
        out = {}
        for d in self._outputs:
            v = self._it.get_tensor(d["index"])
            scale, zero = d["quantization"]
            if v.dtype != np.float32 and scale:
                v = (v.astype(np.float32) - zero) * scale
            out[str(d["name"])] = v
        return out

    def detect(self, rgb: Any) -> list[Found]:
        """Objects in an RGB uint8 image: boxes as fractions of that image."""
        outputs = self.infer(rgb)
        dec = self.spec.decoder
        if dec.kind == "yolo":
            return dec.decode(outputs, self.output_names, self.labels, (self.height, self.width))
        return dec.decode(outputs, self.output_names, self.labels)
