"""Kafka: clients (``clients``), secured-listener checks (``access``), roles and ACLs (``acls``), topics, value schemas.
May import: nothing (only the top-level modules).

``registry`` registers a topic's value schema (BACKWARD) and frames messages the standard way.
"""
