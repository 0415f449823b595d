"""Builds the ``--extra-py-files`` archive of the Glue jobs' shared package, byte-reproducibly
(fixed timestamps, sorted entries), so local and AWS deployments can compare hashes."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from devstack import paths
from music_streaming import config


def package_files() -> list[Path]:
    return sorted(p for p in paths.PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def build_package_zip(dest_dir: Path = paths.BUILD_DIR) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / config.PACKAGE_ARCHIVE_NAME
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in package_files():
            info = zipfile.ZipInfo(str(path.relative_to(paths.GLUE_DIR)), (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    tmp.replace(target)
    return target


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
