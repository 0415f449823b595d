"""The Airflow version flags the DAGs branch on: this stack runs Airflow 3."""

AIRFLOW_V_3_0_PLUS = True
