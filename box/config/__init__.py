"""The box's one validated config document."""

from box.config.loader import ConfigInvalid, ConfigIssue, load_config, parse_config
from box.config.schema import BoxConfigBase

__all__ = ["BoxConfigBase", "ConfigInvalid", "ConfigIssue", "load_config", "parse_config"]
