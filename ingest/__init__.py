"""Reference fleet ingest service: many boxes' sealed MQTT feed into PostgreSQL.

Runs on the platform side, never on a box (``safetybox-ingest``; docs/PLATFORM.md).
"""
