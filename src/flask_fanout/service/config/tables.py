"""Checks shared by every table of the config file."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from flask_fanout import ConfigError


def reject_unknown_keys(where: str, table: Mapping[str, object], known: Collection[str]) -> None:
    """Stop start-up on a key the table ``where`` does not take, naming them all."""
    unknown = set(table) - set(known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
