"""The encrypted store: the single source of truth on the box."""
