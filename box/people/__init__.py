"""Personnel safety on the site plan: zones, fences, SOS, man-down, mustering and per-worker
gas exposure, as the ``positioning`` site rule kind (configured as ``[[positioning]]``)."""
