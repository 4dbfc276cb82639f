# Airflow image for docker-compose.yml: Airflow 3.3.2 + the pinned requirements + the
# loanstream package (editable, from the mounted /opt/airflow/plugins) + Redpanda's rpk.
# Not built on the reference machine (no Docker engine there); see docs/OPERATIONS.md.
ARG REDPANDA_IMAGE=docker.redpanda.com/redpandadata/redpanda:v24.3.6

FROM ${REDPANDA_IMAGE} AS redpanda

# The sink's native scorer (native/, Rust). It goes outside plugins/, which compose mounts
# over the image's copy; loanstream.native imports it from PYTHONPATH when plugins/ has none.
FROM rust:1.95-bookworm AS native
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
COPY native/ /build/
RUN cd /build && PYO3_PYTHON=python3 cargo build --release --locked

FROM apache/airflow:3.3.2-python3.11

# rpk: a static Go binary; /usr/bin/rpk in the Redpanda image is a wrapper around it.
COPY --from=redpanda /opt/redpanda/libexec/rpk /usr/local/bin/rpk

COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/airflow/requirements.txt

# The package is installed editable from /opt/airflow/plugins, which compose mounts from
# ./plugins: code changes apply without a rebuild.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 infra/airflow/compose-init.sh /opt/airflow/compose-init.sh
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

ENV LOANSTREAM_HOME=/opt/airflow

COPY --from=native /build/target/release/lib_scoring_and_encoding.so /opt/loanstream-native/_scoring_and_encoding.abi3.so
ENV PYTHONPATH=/opt/loanstream-native
