"""The deployable artifacts, built byte-reproducibly (fixed timestamps, sorted entries) so the local
stack and AWS get identical bytes and deployments compare hashes: the Glue scripts, the jobs'
``--extra-py-files`` package, the Lambda zip, the DAGs for MWAA; and their upload (what changed)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from devstack.core import paths
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
    tmp.write_bytes(
        reproducible_zip(
            [(str(p.relative_to(paths.GLUE_DIR)), p.read_bytes()) for p in package_files()]
        )
    )
    tmp.replace(target)
    return target


# The Lambda records uploads in the file ledger with the Glue jobs' own modules (not the Spark one).
LAMBDA_PACKAGE_EXCLUDES = ("kpis.py",)


def lambda_zip() -> bytes:
    """The Lambda package: lambda/trigger_dag and the music_streaming modules it imports."""
    files = [
        (str(p.relative_to(paths.LAMBDA_DIR)), p.read_bytes())
        for p in sorted(paths.LAMBDA_DIR.rglob("*.py"))
    ]
    files += [
        (str(p.relative_to(paths.GLUE_DIR)), p.read_bytes())
        for p in package_files()
        if p.name not in LAMBDA_PACKAGE_EXCLUDES
    ]
    return reproducible_zip(files)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifacts(settings: dict) -> dict[str, bytes]:
    """Object key in the artifacts bucket -> content, for every deployable file."""
    bucket = str(settings["scripts_bucket"])
    files: dict[str, bytes] = {}
    for key, spec in config.GLUE_JOBS.items():
        files[config.script_url(settings, key).split(f"{bucket}/", 1)[1]] = (
            paths.JOBS_DIR / str(spec["script"])
        ).read_bytes()
    files[config.package_url(settings).split(f"{bucket}/", 1)[1]] = build_package_zip().read_bytes()
    files[lambda_key()] = lambda_zip()
    for path in sorted(paths.DAGS_DIR.iterdir()):
        if path.is_file() and (path.suffix == ".py" or path.name == ".airflowignore"):
            files[f"dags/{path.name}"] = path.read_bytes()
    for path in package_files():  # the DAGs import music_streaming.config
        files[f"dags/{path.relative_to(paths.GLUE_DIR).as_posix()}"] = path.read_bytes()
    files["requirements.txt"] = (paths.ROOT / "airflow" / "requirements.txt").read_bytes()
    return files


def lambda_key() -> str:
    digest = hashlib.sha256(lambda_zip()).hexdigest()[:16]
    return f"lambda/{config.LAMBDA_FUNCTION_NAME}-{digest}.zip"


def manifest(files: dict[str, bytes]) -> list[tuple[str, int, str]]:
    return [
        (key, len(data), hashlib.sha256(data).hexdigest()) for key, data in sorted(files.items())
    ]


def upload_changed(s3, bucket: str, files: dict[str, bytes]) -> list[str]:
    """Uploads what is missing or different (single-part ETag = MD5); returns the keys."""
    uploaded = []
    for key, data in sorted(files.items()):
        try:
            if (
                s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
                == hashlib.md5(data).hexdigest()
            ):
                continue
        except s3.exceptions.ClientError:
            pass
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        uploaded.append(key)
    return uploaded
