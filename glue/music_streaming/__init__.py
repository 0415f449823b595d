"""Shared code of the music-streaming Glue jobs, shipped to Glue with ``--extra-py-files``.

Modules that the Python shell validation job imports (everything but ``kpis``) use only the standard
library and boto3, and stay compatible with Glue's Python 3.9.
"""
