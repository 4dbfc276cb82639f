"""loanstream: stream LendingClub loan applications through Kafka into risk scores in Postgres.

The package is laid out by job (docs/ARCHITECTURE.md draws it). At the top stand only the
package face, ``cli``, ``config`` (every setting), ``paths`` (which files a run may read) and
``native`` (the compiled module's loader); each of those imports no subpackage but ``config``.
Every subpackage's ``__init__`` says what it owns and, on a line ``May import:``, which other
subpackages it may import; ``tests/unit/test_architecture.py`` holds those arrows, and that the
core (everything but ``loanstream.airflow``) never imports Airflow.
"""

__version__ = "0.1.0"
