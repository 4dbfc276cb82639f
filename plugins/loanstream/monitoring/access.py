"""Who may read the metrics without an Airflow login: the holder of the metrics token.

``LOANSTREAM_METRICS_TOKEN`` (generated into ``.env`` by ``make up``; Prometheus reads it from a
0600 file) is a bearer token that does not expire and opens ``/loanstream/metrics`` only: no
other route checks it, and Airflow's own API refuses it (it is not a JWT it signed).
"""

from __future__ import annotations

import hmac

MIN_TOKEN_CHARS = 24  # a shorter configured token is refused rather than trusted


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def metrics_token_matches(authorization: str | None, expected: str) -> bool:
    """Does the request's bearer token equal the configured metrics token (compared in constant
    time)? Never with no token configured, or one shorter than :data:`MIN_TOKEN_CHARS`."""
    given = bearer(authorization)
    if given is None or len(expected) < MIN_TOKEN_CHARS:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
