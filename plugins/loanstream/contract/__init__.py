"""The stream's contract: ``loan_application`` v1, its fields (``fields``), JSON Schema, rows typed.
May import: scoring.

``convert`` types a CSV row with the scorer's own parsing forms (``scoring.forms``), so a
typed event scores exactly as its text did; ``docs/EVENTS.md`` is generated from ``fields``.
"""
