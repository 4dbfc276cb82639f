"""Airflow loads plugins from this folder's top-level files (``.airflowignore`` skips the
``loanstream`` package itself): the Loanstream page's plugin, defined in the package."""

from loanstream.airflow.ui_plugin import LoanstreamUIPlugin  # noqa: F401 - found by Airflow
