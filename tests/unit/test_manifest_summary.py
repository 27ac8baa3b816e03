"""Version 2's section summaries (files, rows, bytes) against a paged walk of each prefix.

An export of 100,000 files makes the same small manifest as one of three files; PrepareRun
compares what each prefix holds with the summary: each way it can differ is its own error.
"""

import json
from typing import Any

import pytest

from snowsage.errors import (
    ExportFileEmpty,
    ExportFileMissing,
    ExportFileUnlisted,
    ExportSizeMismatch,
    ManifestSchemaError,
)
from snowsage.manifest import check_manifest, parse_manifest, verify_files, verify_first_rows
from snowsage.models import ManifestSection
from snowsage.names import ManifestLocation
from tests.unit.builders import BUCKET, DATASET, EXPORT_ID, PREFIX, MemoryStore, store_for

LOCATION = ManifestLocation(BUCKET, DATASET, EXPORT_ID)
SECTIONS = ("train", "validation", "score")


def summarised(document: dict[str, Any], store: MemoryStore) -> dict[str, Any]:
    """The version 2 form of `document`: each section's file list replaced by its count and bytes."""
    result = {**document, "version": 2}
    for name in SECTIONS:
        part = document[name]
        result[name] = {
            "prefix": part["prefix"],
            "columns": part["columns"],
            "files": len(part["files"]),
            "rows": part["rows"],
            "bytes": sum(len(store.objects[item["key"]]) for item in part["files"]),
        }
    return result


@pytest.fixture
def store(document: dict[str, Any]) -> MemoryStore:
    return store_for(document)


@pytest.fixture
def summary(document: dict[str, Any], store: MemoryStore) -> dict[str, Any]:
    return summarised(document, store)


def _sections(summary: dict[str, Any]) -> dict[str, ManifestSection]:
    return check_manifest(parse_manifest(json.dumps(summary).encode()), LOCATION, "train_and_score")


def _verify(summary: dict[str, Any], store: MemoryStore) -> dict[str, str]:
    sections = _sections(summary)
    first_keys = verify_files(LOCATION, sections, store)
    verify_first_rows(LOCATION, sections, first_keys, store)
    return first_keys


def test_a_summary_that_matches_the_prefixes_passes(summary: dict[str, Any], store: MemoryStore) -> None:
    first_keys = _verify(summary, store)
    assert first_keys == {name: f"{PREFIX}{name}/data_0_0_0.csv" for name in SECTIONS}
    # One listing per section, one ranged read of each first file: nothing per file.
    assert sorted(call.split()[0] for call in store.calls) == ["head"] * 3 + ["list"] * 3


def test_the_manifest_does_not_grow_with_the_files(summary: dict[str, Any]) -> None:
    many = {**summary, "score": {**summary["score"], "files": 100_000, "rows": 10**7, "bytes": 10**9}}
    assert len(json.dumps(many)) - len(json.dumps(summary)) < 20
    _sections(many)


def test_a_missing_file_is_counted(summary: dict[str, Any], store: MemoryStore) -> None:
    del store.objects[f"{PREFIX}score/data_0_0_1.csv"]
    with pytest.raises(
        ExportFileMissing, match=r"score: the manifest counts 2 files but .* holds 1: 1 missing"
    ):
        _verify(summary, store)


def test_an_extra_file_is_refused(summary: dict[str, Any], store: MemoryStore) -> None:
    store.objects[f"{PREFIX}train/data_1_0_0.csv"] = b"1,2,3,4\n"
    with pytest.raises(
        ExportFileUnlisted, match=r"train: the manifest counts 2 files but .* holds 3: 1 not in"
    ):
        _verify(summary, store)


def test_an_empty_file_in_s3_is_named(summary: dict[str, Any], store: MemoryStore) -> None:
    empty = f"{PREFIX}validation/data_0_0_0.csv"
    store.objects[empty] = b""
    with pytest.raises(ExportFileEmpty, match=f"validation file s3://{BUCKET}/{empty} is empty"):
        _verify(summary, store)


def test_a_changed_file_is_a_size_mismatch(summary: dict[str, Any], store: MemoryStore) -> None:
    store.objects[f"{PREFIX}score/data_0_0_0.csv"] += b"m-2,1,2,3\n"
    with pytest.raises(ExportSizeMismatch, match=r"score: the manifest gives \d+ bytes but the 2 files"):
        _verify(summary, store)


def test_a_count_without_bytes_is_refused(summary: dict[str, Any]) -> None:
    del summary["train"]["bytes"]
    with pytest.raises(ManifestSchemaError, match="train counts 2 files but gives no 'bytes'"):
        _sections(summary)


@pytest.mark.parametrize(("field", "value"), [("rows", 1), ("bytes", 1)])
def test_fewer_rows_or_bytes_than_files_means_an_empty_file(
    summary: dict[str, Any], field: str, value: int
) -> None:
    summary["score"][field] = value
    with pytest.raises(ExportFileEmpty, match=r"score counts 2 files but only .*at least one file is empty"):
        _sections(summary)


def test_a_count_of_zero_files_is_refused(summary: dict[str, Any]) -> None:
    summary["validation"]["files"] = 0
    with pytest.raises(ExportFileEmpty, match="validation lists no files"):
        _sections(summary)


@pytest.mark.parametrize("count", [-1, True, "2"])
def test_a_count_must_be_a_non_negative_integer(summary: dict[str, Any], count: object) -> None:
    summary["score"]["files"] = count
    with pytest.raises(ManifestSchemaError, match=r"score\.files"):
        _sections(summary)


def test_a_file_list_with_bytes_must_add_up(document: dict[str, Any]) -> None:
    document["train"]["bytes"] = 1
    with pytest.raises(ManifestSchemaError, match=r"train.bytes is 1 but its files add up to"):
        _sections(document)


def test_the_first_rows_are_read_from_the_first_key_listed(
    summary: dict[str, Any], store: MemoryStore
) -> None:
    # Keys sort as S3 lists them: data_0_0_0 before data_0_0_1; only the first is sampled.
    store.objects[f"{PREFIX}score/data_0_0_1.csv"] = b"not,a,score,row,at,all\n" + b"x" * (
        len(store.objects[f"{PREFIX}score/data_0_0_1.csv"]) - 23
    )
    _verify(summary, store)
