"""Detector backends through the plug-in registry (``safetybox.detectors``).

A backend is a factory ``(model_ref, threads) -> detector`` whose detector has
``detect(rgb) -> list[Found]`` and a ``backend`` name. The built-in one is the TFLite
interpreter on the CPU; a Coral or other accelerator is a package registering its own. A
configured backend that is missing or fails to load is an error that says so: the box never
silently falls back to another one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from box.core import plugins
from vision.boxes import Found


class Detector(Protocol):
    backend: str
    threads: int

    def detect(self, rgb: Any) -> list[Found]: ...


Backend = Callable[[str, int], Detector]


def _tflite(model: str, threads: int) -> Detector:
    from vision.runner import TfliteDetector

    return TfliteDetector(model, threads)


BUILTIN: dict[str, Backend] = {"tflite": _tflite}


class BackendError(RuntimeError):
    """The configured backend is not installed or did not load."""


def _is_backend(name: str, obj: object) -> str:
    return "" if callable(obj) else "is not callable (a backend factory)"


def available() -> tuple[dict[str, Backend], dict[str, str]]:
    loaded: plugins.Loaded[Backend] = plugins.load(plugins.DETECTORS, _is_backend, BUILTIN)
    return dict(loaded.items), dict(loaded.failed)


def load_detector(backend: str, model: str, threads: int) -> Detector:
    items, failed = available()
    factory = items.get(backend)
    if factory is None:
        why = failed.get(backend, "not installed")
        raise BackendError(f"detector backend {backend!r}: {why} (have: {', '.join(items)})")
    return factory(model, threads)
