"""Airflow around the core: hooks, operators (one module each), sensors, triggers, the page.
May import: every subpackage (and Airflow; the only part of loanstream that may).
"""
