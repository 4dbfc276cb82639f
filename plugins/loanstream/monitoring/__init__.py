"""What the Loanstream page, API and metrics show: queries (``queries``) and the Prometheus
text (``metrics``). No Airflow here: the page's FastAPI app is in ``loanstream.airflow.ui``."""
