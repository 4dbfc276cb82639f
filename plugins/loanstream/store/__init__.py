"""Postgres: connections (``connect``), the versioned schema (``migrations``), the run ledger.
May import: nothing (only the top-level modules).
"""
