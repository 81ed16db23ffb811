"""The service's configuration, read and checked once, at start-up.

One module per part of the config file: ``loader.py`` merges the TOML file, the
environment and the defaults into a :class:`ServiceConfig`; ``settings.py`` the
service's own ``FANOUT_*`` settings; ``sources.py`` the ``[sources.NAME]``
tables, whose type-specific keys ``http.py`` (with ``tls.py``) and ``sql.py``
check, and whose call policies ``policies.py`` does; ``routes.py`` the
``[routes.NAME]`` tables; ``envvars.py`` the ``${VAR}`` references in values.
"""

from __future__ import annotations

from .envvars import expand_env, names_env
from .http import HttpSettings
from .loader import ServiceConfig, load_config
from .policies import POLICY_KEYS
from .routes import INT_MAX, QueryParam, RouteSpec
from .settings import ServiceSettings
from .sources import SOURCE_TYPES, SourceSpec, default_sources
from .sql import DEFAULT_POOL_SIZE
from .tls import TlsFileError, TlsSettings, describe_tls_failure

__all__ = [
    "DEFAULT_POOL_SIZE",
    "INT_MAX",
    "POLICY_KEYS",
    "SOURCE_TYPES",
    "HttpSettings",
    "QueryParam",
    "RouteSpec",
    "ServiceConfig",
    "ServiceSettings",
    "SourceSpec",
    "TlsFileError",
    "TlsSettings",
    "default_sources",
    "describe_tls_failure",
    "expand_env",
    "load_config",
    "names_env",
]
