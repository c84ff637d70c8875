"""The records that flow through the box: small, immutable, cheap (slots).

Drivers emit them, the pipeline routes each type to the stages that subscribe to it, the store
and the outbox keep and send them by type. A plug-in may add its own record type: a frozen
dataclass with ``RECORD_TYPE`` (its name), ``RECORD_KEY`` (the field naming what it is about:
a channel, a tag, a camera) and ``ts_ms``, registered through the ``safetybox.records`` entry
points (:mod:`box.core.record_types`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from box.core.levels import Level


class Quality(IntEnum):
    """How far a value can be trusted; stored as a small integer."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2
    STALE = 3


@runtime_checkable
class Record(Protocol):
    """What every record has: its type's name and the time it describes (UTC, ms)."""

    RECORD_TYPE: ClassVar[str]
    RECORD_KEY: ClassVar[str]

    @property
    def ts_ms(self) -> int: ...  # read-only: records are frozen dataclasses


@dataclass(slots=True, frozen=True)
class Reading:
    """A value read from a device. ``ts_ms`` is the time of the read (UTC, ms), not of processing.

    ``value`` is None when nothing trustworthy was read: drivers never invent values.
    ``reason`` says why in words, for a bad reading ("warming up", "sensor open circuit"); it
    reaches the channel's fault alarm and is not stored with the value.

    ``device_alarm`` is the device's own alarm state, read with the value from its status word
    (a Modbus profile's ``a1``/``a2`` bits): None when the device reports none for this
    channel, ``""`` when it reports no alarm, else the highest level it signals (``"A1"``,
    ``"A2"``). It is independent of ``value``: a device in alarm whose value decodes to
    nonsense (a wrong word order) still says so here. Not stored.
    """

    RECORD_TYPE: ClassVar[str] = "reading"
    RECORD_KEY: ClassVar[str] = "channel"
    channel: str
    ts_ms: int
    value: float | None
    quality: Quality = Quality.GOOD
    reason: str = ""
    device_alarm: str | None = None


@dataclass(slots=True, frozen=True)
class Event:
    """An event before it is stored; ``seq`` and hashes are assigned by the store writer."""

    RECORD_TYPE: ClassVar[str] = "event"
    RECORD_KEY: ClassVar[str] = "source"
    kind: str
    source: str
    ts_ms: int
    level: int = Level.INFO
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class Position:
    """Where a tag (a worker, a vehicle) was: site coordinates in metres."""

    RECORD_TYPE: ClassVar[str] = "position"
    RECORD_KEY: ClassVar[str] = "tag"
    tag: str
    ts_ms: int
    x: float
    y: float
    z: float = 0.0
    accuracy_m: float | None = None  # 1-sigma horizontal error, if the system reports it
    quality: Quality = Quality.GOOD
    source: str = ""  # the driver or anchor network that located it
    battery: float | None = None  # the tag's battery in percent, where the protocol carries it
    sos: bool = False  # the tag's SOS button is pressed (sources that report it)


@dataclass(slots=True, frozen=True)
class Detection:
    """What a vision model saw in one frame of one camera."""

    RECORD_TYPE: ClassVar[str] = "detection"
    RECORD_KEY: ClassVar[str] = "camera"
    camera: str
    ts_ms: int
    label: str  # e.g. person, no_helmet, smoke, fire
    score: float
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the frame
    zone: str = ""
    snapshot: str = ""  # a reference to a stored image (file name), never the pixels


@dataclass(slots=True, frozen=True)
class Snapshot:
    """An annotated JPEG (boxes, labels, scores, zones) of the frame that started a vision
    event, kept in the encrypted store. ``ref`` is what ``Detection.snapshot`` names; ``channel``
    is the camera channel whose alarm it shows (the link to the alarm event)."""

    RECORD_TYPE: ClassVar[str] = "snapshot"
    RECORD_KEY: ClassVar[str] = "camera"
    STATUS_OMIT: ClassVar[tuple[str, ...]] = ("jpeg_b64", "thumb_b64")  # not in the status
    camera: str
    ts_ms: int
    ref: str
    channel: str
    jpeg_b64: str  # base64 of the JPEG bytes (records are stored as JSON)
    width: int = 0
    height: int = 0
    labels: str = ""  # what it shows, e.g. "person 0.82 in gate"
    # A small copy (160 px wide) for upstream: sync.record_policy snapshot = "thumbnail"
    thumb_b64: str = ""


# Why a device is not measuring, when it is working as designed: a driver puts these words in
# ``Reading.reason`` (joined by "; " with others), and the alarm engine shows such a channel as
# not ready (yellow, silent) instead of as a sensor fault.
WARMING_UP = "warming up"
CALIBRATING = "calibration in progress"
INHIBITED = "alarms inhibited at the device"
NOT_READY = (WARMING_UP, CALIBRATING, INHIBITED)


def not_ready(reason: str) -> bool:
    """Every part of ``reason`` is a by-design not-measuring state (warm-up, calibration)."""
    return bool(reason) and all(part in NOT_READY for part in reason.split("; "))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def shown_quality(reading: Reading | None, at_ms: int, stale_after_s: float) -> str:
    """The quality to show for a channel's last reading at ``at_ms``: older than the channel's
    ``stale_after_s`` it is "stale", so a silent channel's last value never looks current."""
    if reading is None or at_ms - reading.ts_ms >= stale_after_s * 1000:
        return "stale"
    return Quality(reading.quality).name.lower()
