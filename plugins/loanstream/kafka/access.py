"""Fail fast, and say why, when a secured Kafka listener refuses the client.

librdkafka reports a wrong SASL password or an untrusted broker certificate only through its
error callback, and keeps retrying: a producer, consumer or admin call then waits for its
own timeout and ends with a generic "timed out" or "all brokers down". :func:`check_access`
makes one metadata request with an error callback, and raises :class:`KafkaAccessError` at
the first authentication or TLS error, with a message that names the listener (protocol and
address), the SASL user and mechanism and the CA file, and never the password. Other
trouble (a broker that is down) is left to the caller's own retries: nothing is raised.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SECURED_PROTOCOLS = frozenset({"SASL_SSL", "SASL_PLAINTEXT", "SSL"})
_AUTH_WORDS = ("authentication", "sasl", "invalid credentials")
_TLS_WORDS = ("ssl handshake", "certificate", "tls")


def _unreachable_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})


class KafkaAccessError(RuntimeError):
    """The listener refused the client's credentials or the client refused its certificate."""


def is_secured(config: dict[str, Any]) -> bool:
    return str(config.get("security.protocol", "")).upper() in SECURED_PROTOCOLS


def describe_listener(config: dict[str, Any]) -> str:
    """``SASL_SSL listener 127.0.0.1:9094`` (protocol and bootstrap address, no secret)."""
    protocol = str(config.get("security.protocol") or "PLAINTEXT").upper()
    return f"{protocol} listener {config.get('bootstrap.servers')}"


def _scrub(text: str, config: dict[str, Any]) -> str:
    for key in ("sasl.password", "ssl.key.password", "ssl.keystore.password"):
        secret = str(config.get(key) or "")
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _reason(config: dict[str, Any], code: int, text: str) -> str | None:
    """The message for an authentication/TLS error, or None for other errors."""
    from confluent_kafka import KafkaError

    lowered = text.lower()
    listener = describe_listener(config)
    if code == KafkaError._AUTHENTICATION or (
        code != KafkaError._SSL and any(w in lowered for w in _AUTH_WORDS) and "ssl" not in lowered
    ):
        return (
            f"Kafka {listener}: authentication failed for SASL user "
            f"'{config.get('sasl.username', '')}' ({config.get('sasl.mechanism', 'no mechanism')})"
            ": the user or password in the Kafka connection (loanstream_kafka_<role>, or "
            f"LOANSTREAM_KAFKA_SASL_*) is wrong. Broker said: {_scrub(text, config)}"
        )
    if code == KafkaError._SSL or any(w in lowered for w in _TLS_WORDS):
        ca = config.get("ssl.ca.location") or "the system's CA certificates"
        return (
            f"Kafka {listener}: TLS handshake failed: the broker's certificate is not trusted "
            f"by ssl.ca.location={ca} (or does not name the host): use the CA that signed the "
            f"broker's certificate. Client said: {_scrub(text, config)}"
        )
    return None


def check_access(config: dict[str, Any], timeout: float = 15.0) -> None:
    """Raise :class:`KafkaAccessError` if a secured listener refuses the client.

    Returns once the cluster answered a metadata request, or when ``timeout`` passed without
    an authentication/TLS error (then the caller's own calls report what is wrong). A
    PLAINTEXT config returns at once: there is nothing to check.
    """
    if not is_secured(config):
        return
    from confluent_kafka import KafkaException

    from loanstream.kafka import clients as kafka_clients

    unreachable = _unreachable_codes()
    errors: list[tuple[int, str]] = []

    def on_error(err: Any) -> None:
        errors.append((err.code(), err.str()))

    client_config = {
        key: value
        for key, value in config.items()
        if key not in ("group.id", "enable.auto.commit", "auto.offset.reset")
    }
    client_config["socket.timeout.ms"] = 10000
    try:
        client = kafka_clients.producer(client_config, "access check", on_error=on_error)
    except KafkaException as exc:  # e.g. a mechanism librdkafka does not know
        raise KafkaAccessError(
            f"Kafka {describe_listener(config)}: the client settings are invalid: "
            f"{_scrub(str(exc.args[0].str() if exc.args else exc), config)}"
        ) from None
    started = time.monotonic()
    try:
        while True:
            try:
                metadata = client.list_topics(timeout=1.0)
                if metadata.brokers:
                    log.info(
                        "Kafka %s: authenticated%s (%.1fs)",
                        describe_listener(config),
                        f" as '{config.get('sasl.username')}'"
                        if config.get("sasl.username")
                        else "",
                        time.monotonic() - started,
                    )
                    return
            except KafkaException:
                pass
            client.poll(0)
            for code, text in errors:
                reason = _reason(config, code, text)
                if reason:
                    raise KafkaAccessError(reason)
            if any(code in unreachable for code, _ in errors):
                log.warning(
                    "Kafka %s: not reachable (%s): not checked; the caller's own calls will "
                    "say what is wrong",
                    describe_listener(config),
                    _scrub(errors[-1][1], config),
                )
                return
            if time.monotonic() - started > timeout:
                log.warning(
                    "Kafka %s: no answer within %.0fs (no authentication or TLS error seen)",
                    describe_listener(config),
                    timeout,
                )
                return
    finally:
        client.flush(0)
        client.finish_log()
