#!/usr/bin/env bash
# docker-compose only: run once by the postgres image on a new data volume (as the superuser).
# Creates the loanstream and airflow roles/databases; the loanstream schema's migrations are
# applied by airflow-init (infra/airflow/compose-init.sh: `loanstream schema migrate`).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v ls_pw="$LOANSTREAM_PG_PASSWORD" -v af_pw="$AIRFLOW_PG_PASSWORD" <<'SQL'
CREATE ROLE loanstream LOGIN PASSWORD :'ls_pw';
CREATE DATABASE loanstream OWNER loanstream;
CREATE ROLE airflow LOGIN PASSWORD :'af_pw';
CREATE DATABASE airflow OWNER airflow;
SQL
