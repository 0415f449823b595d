"""Where the project's files, installed tools and runtime state live (all relative to the repo)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GLUE_DIR = ROOT / "glue"
JOBS_DIR = GLUE_DIR / "jobs"
PACKAGE_DIR = GLUE_DIR / "music_streaming"
# The local awsglue (GlueContext, DynamicFrame…): first on the path of local Glue runs.
AWSGLUE_DIR = GLUE_DIR / "awsglue_local"
LAMBDA_DIR = ROOT / "lambda" / "trigger_dag"
DAGS_DIR = ROOT / "airflow" / "dags"
SAMPLE_DATA_DIR = ROOT / "scripts" / "sample_data"

CACHE_DIR = ROOT / ".cache"
JARS_DIR = CACHE_DIR / "jars"
BUILD_DIR = CACHE_DIR / "build"
# The classes a Spark driver loads, dumped once (JVM class data sharing; scripts/install).
SPARK_CLASS_ARCHIVE = CACHE_DIR / "spark-classes.jsa"

VENV_BIN = Path(sys.executable).parent
MINISTACK_PYTHON = ROOT / ".venv-ministack" / "bin" / "python"
# MiniStack with the identity endpoints the local APIs verify callers through
EMULATOR_IDENTITY = ROOT / "devstack" / "services" / "emulator_identity.py"
