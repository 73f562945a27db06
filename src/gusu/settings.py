"""The one check every integer setting goes through, shared by all layers' settings classes.

It sits at the package root beside `gusu.errors` because the settings it
checks belong to layers that may not import one another (mempool and
consensus are peers).
"""

from __future__ import annotations

from gusu.errors import ConfigError


def validate_int_setting(section: str, name: str, value: object, low: int, high: int) -> None:
    """ConfigError naming ``[section] name`` unless `value` is an integer (not a bool) in [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"[{section}] {name} must be an integer between {low} and {high}, not {value!r}")
