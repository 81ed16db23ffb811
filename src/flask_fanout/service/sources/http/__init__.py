"""The ``http`` source and the HTTP/1.1 client it talks through.

``source.py`` is the source (its URL template in ``url_template.py``, redirects
in ``redirects.py``); ``client.py`` keeps the connection pools, ``wire.py``
writes a request's bytes and ``connection.py`` reads the answer.
"""

from __future__ import annotations

from .client import HttpClient
from .source import HttpSource

__all__ = ["HttpClient", "HttpSource"]
