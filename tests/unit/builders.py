"""Builders shared by the core unit tests: a valid manifest and an in-memory object store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from snowsage.errors import ManifestNotFound

XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "snowsage-data"
DATASET = "merchant_risk"
EXPORT_ID = "20261126t100000z"
PREFIX = f"exports/{DATASET}/{EXPORT_ID}/"
FEATURES = ["AVG_AMOUNT", "TXN_COUNT", "CHARGEBACK_RATE"]


def section(name: str, first: str, rows_per_file: tuple[int, ...]) -> dict[str, Any]:
    files = [
        {"key": f"{PREFIX}{name}/data_0_0_{index}.csv", "rows": rows, "size": rows * 20}
        for index, rows in enumerate(rows_per_file)
    ]
    return {
        "prefix": f"{PREFIX}{name}/",
        "columns": [first, *FEATURES],
        "files": files,
        "rows": sum(rows_per_file),
    }


def manifest_document() -> dict[str, Any]:
    return {
        "version": 1,
        "dataset": DATASET,
        "export_id": EXPORT_ID,
        "created_at": "2026-11-26T10:00:00Z",
        "id_column": "MERCHANT_ID",
        "label_column": "IS_RISKY",
        "predictions_table": "MERCHANT_RISK_PREDICTIONS",
        "train": section("train", "IS_RISKY", (40, 40)),
        "validation": section("validation", "IS_RISKY", (20,)),
        "score": section("score", "MERCHANT_ID", (60, 40)),
    }


class MemoryStore:
    """ObjectStore in memory: what S3 would hold for a manifest and its files."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.calls: list[str] = []

    def read_bytes(self, bucket: str, key: str, max_bytes: int) -> bytes:
        self.calls.append(f"read {key}")
        if key not in self.objects:
            raise ManifestNotFound(f"s3://{bucket}/{key} does not exist")
        return self.objects[key][: max_bytes + 1]

    def read_head(self, bucket: str, key: str, max_bytes: int) -> bytes:
        self.calls.append(f"head {key}")
        return self.objects[key][:max_bytes]

    def iter_sizes(self, bucket: str, prefix: str) -> Iterator[tuple[str, int]]:
        self.calls.append(f"list {prefix}")
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield key, len(self.objects[key])


def store_for(document: dict[str, Any]) -> MemoryStore:
    objects = {f"{PREFIX}manifest.json": json.dumps(document).encode()}
    for name in ("train", "validation", "score"):
        part = document.get(name)
        if not part:
            continue
        for item in part["files"]:
            first = "m-1" if name == "score" else "1"
            objects[item["key"]] = f"{first},12.5,3,0.1\n".encode() * max(item["rows"], 1)
    return MemoryStore(objects)
