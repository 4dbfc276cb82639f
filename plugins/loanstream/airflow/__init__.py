"""Thin Airflow operators, sensors and triggers around the loanstream core."""
