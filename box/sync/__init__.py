"""Upstream sync: sealed batches of stored rows over MQTT, and sealed downlink commands."""
