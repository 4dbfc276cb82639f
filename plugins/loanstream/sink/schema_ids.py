"""Which schema ids a framed event may carry: versions of the ``loan_application`` contract,
each id resolved in the schema registry once per process.

A framed value (Confluent's wire format, :func:`loanstream.kafka.registry.unframe`) names its
writer's schema by id. The first time the sink (or a dead-letter redrive) sees an id, it asks
the registry for that schema, once; an accepted id is kept for the life of the process, a
refused one among the last ``REFUSALS_KEPT`` refused. **The rule:** an id is accepted when its schema is a JSON Schema whose ``title`` is
the contract's name (``loanstream.contract.fields.NAME``, ``loan_application``). Every version
the producer registers under ``<topic>-value`` has that title, and the registry holds those
versions BACKWARD compatible, so the sink reads every one of them as it reads v1; the title
also accepts the contract registered under another topic's subject, the same events. Any other
id is the reason its events are dead-lettered whole: one the registry does not hold
(``unknown schema id``), or a schema of another kind or title (``foreign schema id``: for
example ``risk_decision``, the scored topic's), each naming the id and what it is.

The registry unreachable (or failing) while a NEW id is resolved says nothing about the
event: :class:`SinkError` names the registry's address, the batch fails before anything of it
is written, and its events are read again when the sink re-runs. An id already resolved never
needs the registry again, and unframed events never need it at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from loanstream.contract.fields import NAME
from loanstream.kafka.registry import RegistryError, ValueSchemas, WriterSchema
from loanstream.sink.errors import SinkError

log = logging.getLogger(__name__)

Lookup = Callable[[int], WriterSchema | None]
REFUSALS_KEPT = 1024  # refused ids remembered (oldest forgotten first): a flood of made-up
# ids in poison events can neither grow the cache without bound nor stay refused forever


def refusal(schema_id: int, schema: WriterSchema | None, url: str) -> str | None:
    """None when ``schema`` (the registry's answer for ``schema_id``) is a version of the
    contract; else the dead-letter reason, naming the id and what it is."""
    if schema is None:
        return f"unknown schema id: {schema_id} is not in the schema registry at {url}"
    title = None
    if schema.schema_type == "JSON":
        try:
            parsed = json.loads(schema.text)
        except ValueError:
            parsed = None
        title = parsed.get("title") if isinstance(parsed, dict) else None
        if title == NAME:
            return None
    what = f"'{title}'" if isinstance(title, str) else "untitled"
    return (
        f"foreign schema id: {schema_id} is {what} ({schema.schema_type} schema), "
        f"not a version of {NAME}"
    )


class ContractSchemaIds:
    """The schema ids of ``loan_application`` events, each resolved once (see the module).

    :param url: the registry's Confluent-compatible base URL (``LOANSTREAM_SCHEMA_REGISTRY_URL``).
    :param lookup: how an id is resolved (default: :meth:`ValueSchemas.lookup` at ``url``,
        its client built at the first framed event).
    """

    def __init__(self, url: str, lookup: Lookup | None = None) -> None:
        self.url = url
        self._lookup = lookup
        self._refusals: dict[int, str | None] = {}
        self.lookups = 0  # requests made: one per distinct id

    def refusal(self, schema_id: int) -> str | None:
        """None when events framed with ``schema_id`` are ``loan_application`` events, else
        why not (the dead-letter reason); raise :class:`SinkError` when the registry cannot
        answer for an id not resolved yet."""
        try:
            return self._refusals[schema_id]
        except KeyError:
            pass
        if self._lookup is None:
            self._lookup = ValueSchemas(self.url).lookup
        self.lookups += 1
        try:
            schema = self._lookup(schema_id)
        except RegistryError as exc:
            raise SinkError(
                f"{exc}. Schema id {schema_id} is new to this consumer, so its events can be "
                "neither scored nor dead-lettered; nothing of the batch was stored. Start the "
                "registry (`make up`) or fix LOANSTREAM_SCHEMA_REGISTRY_URL, and re-run: the "
                "consumer resumes from the offsets stored in Postgres"
            ) from None
        reason = refusal(schema_id, schema, self.url)
        if reason is not None:
            refused = [i for i, why in self._refusals.items() if why is not None]
            for oldest in refused[: max(0, len(refused) - REFUSALS_KEPT + 1)]:
                del self._refusals[oldest]
        self._refusals[schema_id] = reason
        return reason

    def prime(self, topic: str) -> int | None:
        """Resolve the id of ``topic``'s latest value schema before the first event, so that
        the events the producer frames with it are scored natively from the first batch; the
        id, or None. Best effort: a topic without a registered schema (untyped events only),
        or a registry that does not answer now, leaves every id to be resolved when it is
        first seen."""
        schemas = ValueSchemas(self.url)
        if self._lookup is None:
            self._lookup = schemas.lookup
        try:
            schema_id = schemas.latest_id(topic)
            if schema_id is not None and self.refusal(schema_id) is None:
                return schema_id
        except (RegistryError, SinkError) as exc:
            log.info("schema ids of '%s' resolved as they come (%s)", topic, exc)
        return None

    def accepted(self) -> list[int]:
        """The ids resolved so far to versions of the contract, ascending."""
        return sorted(i for i, reason in self._refusals.items() if reason is None)
