"""The local loanstream stack, without Docker: one definition of how each service starts.

    python -m devstack up | down | status | clean | restart-airflow | restart-registry | secrets

(``make up``/``down``/``status``/``clean`` run it under ``scripts/env.sh``.) One module per
concern: :mod:`devstack.process` (supervision: pid files with start times, sessions),
:mod:`devstack.kafka` (one node or a KRaft cluster) with :mod:`devstack.kafka_tls` (its
SASL_SSL listener), :mod:`devstack.postgres`, :mod:`devstack.registry` (the schema registry, Apicurio),
:mod:`devstack.airflow`, :mod:`devstack.celery` (Redis and the Celery workers), :mod:`devstack.credentials` (.env passwords, stamps),
:mod:`devstack.config` (the environment), :mod:`devstack.stack` (the commands).

The test suites start their private services (other ports and directories) through the same
classes. Nothing here imports Airflow; this package imports nothing at import time, so
``python3 -m devstack.kafka_tls`` runs with the system Python (``make setup``).
"""
