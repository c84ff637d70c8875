"""Rolling time-weighted averages for STEL (15 min) and TWA (8 h) exposure.

Each value holds until the next reading, for at most ``max_hold_s`` (an offline sensor does not
keep contributing). Time without data counts as zero exposure and the integral is divided by
the full window, as the standard TWA formula (sum of C_i * T_i over 8 h) does.
"""

from __future__ import annotations

from collections import deque


class RollingAverage:
    def __init__(self, window_s: float, max_hold_s: float) -> None:
        self.window_s = window_s
        self.max_hold_s = max_hold_s
        self._segments: deque[list[float]] = deque()  # [start, end, value], closed segments
        self._total = 0.0  # integral of the closed segments
        self._last: tuple[float, float] | None = None  # open segment: (start, value)

    def add(self, t: float, value: float) -> None:
        if self._last is not None:
            start, v = self._last
            end = min(t, start + self.max_hold_s)
            if end > start:
                self._segments.append([start, end, v])
                self._total += (end - start) * v
        self._last = (t, value)

    def average(self, now: float) -> float:
        window_start = now - self.window_s
        self._evict(window_start)
        total = self._total
        if self._last is not None:
            start, v = self._last
            end = min(now, start + self.max_hold_s)
            start = max(start, window_start)
            if end > start:
                total += (end - start) * v
        return total / self.window_s

    def _evict(self, window_start: float) -> None:
        segs = self._segments
        while segs and segs[0][1] <= window_start:
            start, end, v = segs.popleft()
            self._total -= (end - start) * v
        if segs and segs[0][0] < window_start:
            first = segs[0]
            self._total -= (window_start - first[0]) * first[2]
            first[0] = window_start
        if not segs:
            self._total = 0.0  # no drift accumulates across empty windows
