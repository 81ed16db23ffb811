"""``${NAME}`` in a config value: taken from the environment once, at start-up.

Secrets (API tokens, database passwords) stay out of the TOML file this way. A
variable that is not set stops start-up with an error that names the key and the
variable, never the value. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask_fanout import ConfigError

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


def expand_env(value: str, where: str, environ: Mapping[str, str]) -> str:
    """``value`` with each ``${NAME}`` replaced by ``environ[NAME]``.

    ``where`` names the config key in errors, for example ``sources.api.headers``.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name is None:
            raise ConfigError(f"{where}: '${{' must be followed by NAME}}, or written '$${{'")
        if name not in environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return environ[name]

    return _REFERENCE.sub(replace, value)


def names_env(value: str) -> bool:
    """Whether ``value`` takes anything from the environment (so it may be a secret)."""
    return any(m.group(1) for m in _REFERENCE.finditer(value))
