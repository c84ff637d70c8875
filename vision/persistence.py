"""K of N persistence: an event only after a violation is seen in K of the last N analysed
frames, and a clear only after M analysed frames in a row without it. One flickering box (a
false positive in one frame) never raises; one missed frame never clears."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class Persistence:
    k: int = 3
    n: int = 5
    clear_after: int = 10
    active: bool = False
    _seen: deque[bool] = field(default_factory=deque)
    _without: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ValueError(f"persistence k = {self.k} must be between 1 and n = {self.n}")
        self._seen = deque(maxlen=self.n)

    def update(self, present: bool) -> str | None:
        """Feed one analysed frame; returns "raised" or "cleared" on a change, else None."""
        self._seen.append(present)
        self._without = 0 if present else self._without + 1
        if not self.active and sum(self._seen) >= self.k:
            self.active = True
            return "raised"
        if self.active and self._without >= self.clear_after:
            self.active = False
            self._seen.clear()
            return "cleared"
        return None
