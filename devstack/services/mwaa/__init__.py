"""The local Amazon MWAA API, split as moto splits a service: ``models`` (the environment, its
tokens and how an IAM identity maps to an Airflow role), ``responses`` (MWAA's REST routes and the
web server's paths), ``exceptions`` (one class per MWAA error), ``server`` (the listeners)."""
