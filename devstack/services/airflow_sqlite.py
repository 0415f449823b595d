"""Connection arguments of the native stack's Airflow metadata database (SQLite), named by
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS``: the api-server, scheduler and task processes
share one file, and pysqlite's default 5 s lock wait turned a burst of writes into HTTP 500s."""

CONNECT_ARGS = {"timeout": 30}
