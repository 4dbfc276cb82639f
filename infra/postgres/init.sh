#!/usr/bin/env bash
# docker-compose only: run once by the postgres image on a new data volume (as the superuser).
# Creates the loanstream and airflow roles/databases and applies the loanstream schema.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v ls_pw="$LOANSTREAM_PG_PASSWORD" -v af_pw="$AIRFLOW_PG_PASSWORD" <<'SQL'
CREATE ROLE loanstream LOGIN PASSWORD :'ls_pw';
CREATE DATABASE loanstream OWNER loanstream;
CREATE ROLE airflow LOGIN PASSWORD :'af_pw';
CREATE DATABASE airflow OWNER airflow;
SQL
PGPASSWORD="$LOANSTREAM_PG_PASSWORD" psql -v ON_ERROR_STOP=1 -h 127.0.0.1 -U loanstream -d loanstream \
    -f /loanstream/schema.sql
