"""The stream's contracts: ``loan_application`` v1 (``fields``, ``schema``), ``risk_decision`` v1.
May import: scoring.

``convert`` types a CSV row with the scorer's own parsing forms (``scoring.forms``), so a
typed event scores exactly as its text did; ``decision`` defines what the sink republishes to
the scored topic; the tables of ``docs/EVENTS.md`` are generated from both (``docs``).
"""
