"""Runs one of the Amazon provider's system-test DAGs unchanged with ``dag.test()`` and prints
its run's state and each task's as one JSON line (the e2e test reads it).

    python run_dag.py example_glue
"""

from __future__ import annotations

import importlib
import json
import sys

module = importlib.import_module(f"system.amazon.aws.{sys.argv[1]}")
run = module.dag.test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print(json.dumps({"state": str(run.state), "tasks": states}))
