# CI only: stands in for apache/airflow (same Airflow and provider pins as the native stack).
ARG PYTHON_IMAGE=local/python:ci
FROM ${PYTHON_IMAGE}
COPY constraints.txt /tmp/constraints.txt
RUN python -m venv /opt/airflow-venv \
 && /opt/airflow-venv/bin/pip install -q -c /tmp/constraints.txt apache-airflow==3.3.2 \
      apache-airflow-providers-amazon==9.39.0 apache-airflow-providers-standard==1.21.0 \
      apache-airflow-providers-smtp==3.2.0 psycopg2-binary==2.9.10 asyncpg==0.32.0 duckdb==1.5.6
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow
ENV PATH=/opt/airflow-venv/bin:${PATH} AIRFLOW_HOME=/opt/airflow
USER 50000
WORKDIR /opt/airflow
