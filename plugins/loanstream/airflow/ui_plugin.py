"""The Airflow plugin: mounts the Loanstream page (``loanstream.airflow.ui``) at /loanstream and
links it from the UI's navigation (shown inside Airflow's UI, at /plugin/loanstream)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/loanstream"


class LoanstreamUIPlugin(AirflowPlugin):
    name = "loanstream_ui"

    @property
    def fastapi_apps(self) -> list[dict]:  # type: ignore[override]
        from loanstream.airflow.ui import app

        return [{"app": app, "url_prefix": URL_PREFIX, "name": "Loanstream"}]

    external_views = [
        {
            "name": "Loanstream",
            "href": f"{URL_PREFIX}/",
            "url_route": "loanstream",
            "destination": "nav",
            "icon": f"{URL_PREFIX}/static/icon.svg",
        }
    ]
