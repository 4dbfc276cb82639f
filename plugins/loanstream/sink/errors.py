"""The sink's errors: each message says why it stopped and what to do."""

from __future__ import annotations


class SinkError(RuntimeError):
    """The sink cannot go on; the message says why and what to do."""


class FencedError(SinkError):
    """Another consumer advanced this partition's stored offset: this one must stop."""
