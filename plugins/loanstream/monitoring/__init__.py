"""What the Loanstream page, API and metrics show beyond a run's figures: dead letters, totals,
the Prometheus text. No Airflow here: the page's FastAPI app is ``loanstream.airflow.ui``.
May import: runs, sink, store.
"""
