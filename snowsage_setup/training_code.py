"""Deploy the datasets' training scripts: ``training/<dataset>/`` -> ``s3://<bucket>/code/<dataset>/sourcedir.tar.gz``.

    python -m snowsage_setup.training_code --bucket <DataBucketName> [--region R] [DATASET …]

Script mode (docs/contracts.md, "Your own training script") runs ``training/<dataset>/<program>.py``
from this archive: its ``sagemaker_submit_directory``. Run it after ``sam deploy`` and after changing
a script (``make upload-training BUCKET=…``); the sandbox runs it at deploy. The archive is
byte-for-byte reproducible (sorted members, no timestamps or owners), so an unchanged folder uploads
an identical object.
"""

from __future__ import annotations

import argparse
import gzip
import io
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = ROOT / "training"
ARCHIVE_NAME = "sourcedir.tar.gz"
SKIPPED = ("__pycache__", ".pytest_cache")


def archive_key(dataset: str) -> str:
    """The key PrepareRun looks for (snowsage/script_mode.py ``archive_key``)."""
    return f"code/{dataset}/{ARCHIVE_NAME}"


def datasets(training_dir: Path = TRAINING_DIR) -> list[str]:
    """Every folder of ``training/`` that holds a Python file."""
    if not training_dir.is_dir():
        return []
    return sorted(p.name for p in training_dir.iterdir() if p.is_dir() and any(p.glob("*.py")))


def build_archive(folder: Path) -> bytes:
    """The folder's files (not __pycache__), at the archive's root, without times or owners."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or any(part in SKIPPED for part in path.parts) or path.suffix == ".pyc":
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def upload(s3: Any, bucket: str, names: Sequence[str] = (), training_dir: Path = TRAINING_DIR) -> list[str]:
    """Upload each dataset's archive; returns the S3 URIs written."""
    written = []
    for dataset in names or datasets(training_dir):
        folder = training_dir / dataset
        if not folder.is_dir():
            raise SystemExit(f"{folder} does not exist")
        s3.put_object(
            Bucket=bucket,
            Key=archive_key(dataset),
            Body=build_archive(folder),
            ContentType="application/x-gzip",
        )
        written.append(f"s3://{bucket}/{archive_key(dataset)}")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    import boto3  # noqa: PLC0415 - only the command line needs it

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True, help="the stack's DataBucketName output")
    parser.add_argument("--region")
    parser.add_argument("datasets", nargs="*", help="default: every folder of training/")
    args = parser.parse_args(argv)
    for uri in upload(boto3.client("s3", region_name=args.region), args.bucket, args.datasets):
        print(uri)


if __name__ == "__main__":
    main()
