"""One level scale for events and alarms: the seeds' response levels plus a notice level.

1: precursor of explosion or toxic release: automatic action, reported upstream at once.
2: exceedance needing a response within 30 min.  3: equipment anomaly, within 2 h.
4: notice.  0: information (events only, never an alarm). Colours follow the Chinese
four-colour risk scale (红橙黄蓝).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import Field


class Level(IntEnum):
    INFO = 0
    LEVEL_1 = 1
    LEVEL_2 = 2
    LEVEL_3 = 3
    LEVEL_4 = 4


COLOURS = {1: "red", 2: "orange", 3: "yellow", 4: "blue"}
RESPONSE = {1: "immediate", 2: "within 30 min", 3: "within 2 h", 4: "notice"}

AlarmLevel = Annotated[int, Field(ge=1, le=4, description="1 most urgent ... 4 notice")]
