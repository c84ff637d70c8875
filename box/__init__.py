"""SafetyBox daemon core: config, store, rules, daemon and CLI."""

__version__ = "0.1.0"
