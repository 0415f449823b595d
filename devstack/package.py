"""Builds the deployable archives byte-reproducibly (fixed timestamps, sorted entries), so the
local stack and AWS get identical bytes and deployments can compare hashes: the Glue jobs'
``--extra-py-files`` package and the Lambda zip."""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from devstack import paths
from music_streaming import config


def reproducible_zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def package_files() -> list[Path]:
    return sorted(p for p in paths.PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def build_package_zip(dest_dir: Path = paths.BUILD_DIR) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / config.PACKAGE_ARCHIVE_NAME
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(reproducible_zip([(str(p.relative_to(paths.GLUE_DIR)), p.read_bytes())
                                      for p in package_files()]))
    tmp.replace(target)
    return target


# The Lambda records uploads in the file ledger with the Glue jobs' own modules (not the Spark one).
LAMBDA_PACKAGE_EXCLUDES = ("kpis.py",)


def lambda_zip() -> bytes:
    """The Lambda package: lambda/trigger_dag and the music_streaming modules it imports."""
    files = [(str(p.relative_to(paths.LAMBDA_DIR)), p.read_bytes())
             for p in sorted(paths.LAMBDA_DIR.rglob("*.py"))]
    files += [(str(p.relative_to(paths.GLUE_DIR)), p.read_bytes()) for p in package_files()
              if p.name not in LAMBDA_PACKAGE_EXCLUDES]
    return reproducible_zip(files)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
