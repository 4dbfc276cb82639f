"""Kafka: clients built in one place (``clients``), secured-listener checks (``access``), topics.
May import: nothing (only the top-level modules).
"""
