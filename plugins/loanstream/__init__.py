"""loanstream: stream LendingClub loan applications through Kafka into risk scores in Postgres.

Core modules import no Airflow; ``loanstream.airflow`` holds the thin operators, sensors and
triggers around them.
"""

__version__ = "0.1.0"
