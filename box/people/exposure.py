"""Per-worker time-weighted exposure, kept in fixed time buckets so memory stays bounded
(8 h in 1-min buckets, 15 min in 10-s buckets) whatever the update rate.

A worker's concentration at an instant is the highest good value among the channels of that
gas linked to the zones he is in, and zero outside them. Each sample holds until the next
(for at most ``max_hold_s``: a silent tag stops accruing); averages divide the integral by the
whole window, as the TWA formula does."""

from __future__ import annotations

import math
from collections import deque


class BucketAverage:
    def __init__(self, window_s: float, bucket_s: float) -> None:
        self.window_s = window_s
        self.bucket_s = bucket_s
        self._buckets: deque[list[float]] = deque()  # [bucket index, integral (value x s)]
        self._total = 0.0

    def add(self, t0: float, t1: float, value: float) -> None:
        """Integrate ``value`` over [t0, t1), splitting across bucket edges."""
        if t1 <= t0 or value == 0:
            return
        b = self.bucket_s
        t = t0
        while t < t1:
            idx = math.floor(t / b)
            end = min(t1, (idx + 1) * b)
            amount = (end - t) * value
            if self._buckets and self._buckets[-1][0] == idx:
                self._buckets[-1][1] += amount
            else:
                self._buckets.append([float(idx), amount])
            self._total += amount
            t = end

    def average(self, now: float) -> float:
        """Mean over the window ending at ``now``. A bucket the window's start cuts through
        still counts whole: the error (at most one bucket) errs on the side of more exposure."""
        start = now - self.window_s + 1e-9
        b = self.bucket_s
        while self._buckets and (self._buckets[0][0] + 1) * b <= start:
            self._total -= self._buckets.popleft()[1]
        if not self._buckets:
            self._total = 0.0
        return max(0.0, self._total) / self.window_s


class WorkerExposure:
    """One worker, one gas: STEL and TWA averages fed with held samples."""

    def __init__(self, stel_window_s: float, twa_window_s: float, max_hold_s: float) -> None:
        self.stel = BucketAverage(stel_window_s, min(10.0, stel_window_s / 15))
        self.twa = BucketAverage(twa_window_s, min(60.0, twa_window_s / 60))
        self.max_hold_s = max_hold_s
        self.peak = 0.0
        self.stel_peak = 0.0
        self._last: tuple[float, float] | None = None  # (time, value)

    def sample(self, t: float, value: float) -> None:
        if self._last is not None:
            t0, v = self._last
            end = min(t, t0 + self.max_hold_s)
            self.stel.add(t0, end, v)
            self.twa.add(t0, end, v)
        self._last = (t, value)
        self.peak = max(self.peak, value)

    def averages(self, now: float) -> tuple[float, float]:
        self.sample(now, self._last[1] if self._last else 0.0)
        stel, twa = self.stel.average(now), self.twa.average(now)
        self.stel_peak = max(self.stel_peak, stel)
        return stel, twa
