"""Helpers run in the processes ``bench memory`` measures (``python -m box.bench.memory_probe``).

``run OUT ARGS...``: the ``safetybox`` command with ARGS (the daemon: ``--home H run``); on
SIGUSR1 it writes the modules it has loaded (in import order) and, when started with
``PYTHONTRACEMALLOC``, its largest allocations to OUT as JSON. Nothing is imported for this
beyond what the command itself loads, so the plain run's RSS is the daemon's own.

``imports OUT MODULE...``: imports the modules in a fresh interpreter and writes each one's
own import cost (RSS growth while its code ran, less what the modules it imported added).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, cast

SKIP_PREFIXES = ("__main__", "box.__main__", "box.bench.memory_probe")


def _rss_kib() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") // 1024


def _report(out: Path) -> None:
    report: dict[str, Any] = {
        "modules": [m for m in list(sys.modules) if not m.startswith(SKIP_PREFIXES)]
    }
    import tracemalloc

    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        report["traced_kib"] = round(tracemalloc.get_traced_memory()[0] / 1024)
        report["by_line"] = [
            {"where": str(s.traceback[0]), "kib": round(s.size / 1024), "blocks": s.count}
            for s in snapshot.statistics("lineno")[:15]
        ]
        report["by_file"] = [
            {"file": s.traceback[0].filename, "kib": round(s.size / 1024)}
            for s in snapshot.statistics("filename")[:15]
        ]
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report), encoding="utf-8")
    tmp.replace(out)


def run(out: Path, args: list[str]) -> None:
    def on_usr1(signum: int, frame: FrameType | None) -> None:
        _report(out)

    signal.signal(signal.SIGUSR1, on_usr1)
    import runpy

    # As ``python -m box`` (the ``safetybox`` command); no import of box.cli from here.
    sys.argv = ["safetybox", *args]
    runpy.run_module("box", run_name="__main__", alter_sys=True)


class _CostingLoader:
    """Wraps a module's loader to charge the RSS its creation and execution add to it."""

    def __init__(self, loader: Any, name: str, costs: dict[str, int], stack: list[int]) -> None:
        self._loader, self._name, self._costs, self._stack = loader, name, costs, stack

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._loader, attr)

    def _charged(self, fn: Any, *args: Any) -> Any:
        self._stack.append(0)
        before = _rss_kib()
        try:
            return fn(*args)
        finally:
            total = _rss_kib() - before
            children = self._stack.pop()
            self._costs[self._name] = self._costs.get(self._name, 0) + total - children
            if self._stack:
                self._stack[-1] += total

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return None if create is None else self._charged(create, spec)

    def exec_module(self, module: Any) -> None:
        self._charged(self._loader.exec_module, module)


class _CostingFinder:
    def __init__(self) -> None:
        self.costs: dict[str, int] = {}
        self._stack: list[int] = []

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = cast(Any, _CostingLoader(spec.loader, name, self.costs, self._stack))
        return spec


def imports(out: Path, modules: list[str]) -> None:
    import importlib

    finder = _CostingFinder()
    sys.meta_path.insert(0, finder)
    start = _rss_kib()
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported, the others still count
            failed[name] = f"{type(exc).__name__}: {exc}"
    sys.meta_path.remove(finder)
    report = {
        "start_kib": start,
        "end_kib": _rss_kib(),
        "costs_kib": finder.costs,
        "failed": failed,
    }
    out.write_text(json.dumps(report), encoding="utf-8")


if __name__ == "__main__":
    what, target, *rest = sys.argv[1:]
    if what == "run":
        run(Path(target), rest)
    else:
        imports(Path(target), rest)
