"""Per-dependency policies for ``gather``: breaker, bulkhead, retry, hedge, cache.

Name a policy once per dependency (``fanout.policy("api", Policy(...))``) or pass
policies to a call (``gather(calls, policies={"api": ...})``). Each part is
optional; :class:`Policy` says in what order they apply. What they did is in each
:class:`~flask_fanout.Outcome` (``flags``, ``age``, ``cause``, ``attempts``) and
its error codes ``circuit_open`` and ``rejected``.
"""

from .breaker import Breaker
from .bulkhead import Bulkhead
from .cache import Cache
from .hedge import Hedge
from .policy import Policy
from .registry import Policies
from .retry import Retry

__all__ = ["Breaker", "Bulkhead", "Cache", "Hedge", "Policies", "Policy", "Retry"]
