"""TLS settings of an ``http`` source, and the ``ssl.SSLContext`` they make.

Certificates are verified against the system's trust store unless the operator
names a private CA (``ca_file``) or turns verification off (``verify = false``);
a client certificate (``cert_file`` + ``key_file``) is presented when the
upstream asks for one. The settings are plain data, checked at start-up by
building a context once (so a missing or broken file stops start-up), while the
context a connection uses is built in the process that uses it: under gevent it
must come from the patched ``ssl`` module, which the worker only has after fork.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass


class TlsFileError(Exception):
    """A TLS file that cannot be used; ``key`` is the config key that names it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class TlsSettings:
    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def context(self) -> ssl.SSLContext:
        """A client context for these settings; raises :class:`TlsFileError`.

        With ``ca_file`` only that file's CAs are trusted (as with curl's
        ``--cacert`` and requests' ``verify=PATH``), else the system's trust
        store, whose loading costs 60-100 ms here: the client builds a context
        once per process and settings, and shares it.
        """
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            try:
                context = ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsFileError("ca_file", f"cannot load {self.ca_file}: {_why(exc)}") from None
        self._load_client_cert(context)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def check(self) -> None:
        """Load every file now (not the system store): a missing or broken one raises."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsFileError("ca_file", f"cannot load {self.ca_file}: {_why(exc)}") from None
        self._load_client_cert(context)

    def _load_client_cert(self, context: ssl.SSLContext) -> None:
        if self.cert_file is None:
            return
        try:
            # An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
            context.load_cert_chain(self.cert_file, self.key_file, password=_no_password)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFileError(
                "cert_file",
                f"cannot load {self.cert_file} with key_file {self.key_file}"
                f" (PEM files, the key unencrypted and matching): {_why(exc)}",
            ) from None


def _no_password() -> str:
    return ""


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    return exc.strerror or str(exc)


def describe_tls_failure(exc: ssl.SSLError) -> str:
    """A short reason for a failed TLS exchange, e.g. ``certificate verify failed: ...``."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLEOFError):
        return "the server closed the connection during TLS (a client certificate required?)"
    return str(exc.reason or exc).lower().replace("_", " ")
