"""Rules turn readings into events; they run before the store and never wait on disk."""
