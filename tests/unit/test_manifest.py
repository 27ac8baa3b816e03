import json
from typing import Any

import pytest

from snowsage.errors import (
    ColumnMismatch,
    ExportFileEmpty,
    ExportFileMissing,
    InvalidIdentifier,
    ManifestError,
    ManifestSchemaError,
    ManifestVersionError,
)
from snowsage.manifest import (
    MAX_MANIFEST_BYTES,
    check_manifest,
    parse_manifest,
    verify_files,
    verify_first_rows,
)
from snowsage.names import ManifestLocation
from tests.unit.builders import BUCKET, DATASET, EXPORT_ID, PREFIX, store_for

LOCATION = ManifestLocation(BUCKET, DATASET, EXPORT_ID)


def _check(document: dict[str, Any], mode: str = "train_and_score") -> None:
    manifest = parse_manifest(json.dumps(document).encode())
    check_manifest(manifest, LOCATION, mode)  # type: ignore[arg-type]


def test_a_valid_manifest_passes(document: dict[str, Any]) -> None:
    manifest = parse_manifest(json.dumps(document).encode())
    sections = check_manifest(manifest, LOCATION, "train_and_score")
    assert set(sections) == {"train", "validation", "score"}
    store = store_for(document)
    verify_first_rows(LOCATION, sections, verify_files(LOCATION, sections, store), store)
    assert sum(call.startswith("list") for call in store.calls) == 3  # one listing per section


def test_malformed_json_is_named() -> None:
    with pytest.raises(ManifestSchemaError, match="not valid JSON"):
        parse_manifest(b"{not json")


def test_a_json_array_is_not_a_manifest() -> None:
    with pytest.raises(ManifestSchemaError, match="JSON object"):
        parse_manifest(b"[]")


@pytest.mark.parametrize("version", [3, "1", None])
def test_unknown_versions_are_rejected(document: dict[str, Any], version: object) -> None:
    document["version"] = version
    with pytest.raises(ManifestVersionError, match="not supported"):
        parse_manifest(json.dumps(document).encode())


def test_missing_fields_are_listed(document: dict[str, Any]) -> None:
    del document["label_column"]
    del document["score"]["rows"]
    with pytest.raises(ManifestSchemaError) as caught:
        parse_manifest(json.dumps(document).encode())
    assert "label_column" in str(caught.value) and "score.rows" in str(caught.value)


def test_oversize_manifests_are_refused() -> None:
    with pytest.raises(ManifestError, match="at most"):
        parse_manifest(b" " * (MAX_MANIFEST_BYTES + 1))


def test_train_and_score_needs_train_and_validation(document: dict[str, Any]) -> None:
    del document["validation"]
    with pytest.raises(ManifestSchemaError, match="'validation'"):
        _check(document)
    _check(document, mode="score_only")


def test_zero_rows_are_refused(document: dict[str, Any]) -> None:
    document["score"]["rows"] = 0
    for item in document["score"]["files"]:
        item["rows"] = 0
    with pytest.raises(ExportFileEmpty, match="0 rows"):
        _check(document)


def test_row_counts_must_add_up(document: dict[str, Any]) -> None:
    document["train"]["rows"] += 1
    with pytest.raises(ManifestSchemaError, match="add up"):
        _check(document)


def test_an_empty_file_is_named(document: dict[str, Any]) -> None:
    document["train"]["files"][1]["size"] = 0
    with pytest.raises(ExportFileEmpty, match=r"data_0_0_1\.csv"):
        _check(document)


def test_files_outside_the_prefix_are_refused(document: dict[str, Any]) -> None:
    document["score"]["files"][0]["key"] = "exports/other/x/score/data.csv"
    with pytest.raises(ManifestSchemaError, match="not under"):
        _check(document)


def test_the_manifest_must_match_its_key(document: dict[str, Any]) -> None:
    document["export_id"] = "someotherexport"
    with pytest.raises(ManifestSchemaError, match="in its key"):
        _check(document)


def test_label_and_id_columns_come_first(document: dict[str, Any]) -> None:
    document["score"]["columns"] = ["AVG_AMOUNT", "MERCHANT_ID", "TXN_COUNT", "CHARGEBACK_RATE"]
    with pytest.raises(ColumnMismatch, match="expected the id"):
        _check(document)


def test_features_must_match_between_sections(document: dict[str, Any]) -> None:
    document["train"]["columns"] = ["IS_RISKY", "TXN_COUNT", "AVG_AMOUNT", "CHARGEBACK_RATE"]
    with pytest.raises(ColumnMismatch, match="same order"):
        _check(document)


@pytest.mark.parametrize("field", ["predictions_table", "id_column"])
def test_unsafe_identifiers_are_refused(document: dict[str, Any], field: str) -> None:
    document[field] = 'X"; DROP TABLE ML_RUNS; --'
    with pytest.raises(InvalidIdentifier):
        _check(document)


def test_a_missing_file_is_named(document: dict[str, Any]) -> None:
    store = store_for(document)
    missing = f"{PREFIX}score/data_0_0_1.csv"
    del store.objects[missing]
    manifest = parse_manifest(json.dumps(document).encode())
    with pytest.raises(ExportFileMissing, match=missing):
        verify_files(LOCATION, check_manifest(manifest, LOCATION, "train_and_score"), store)


def test_data_with_other_columns_than_the_manifest_is_refused(document: dict[str, Any]) -> None:
    store = store_for(document)
    store.objects[f"{PREFIX}train/data_0_0_0.csv"] = b"1,2.0\n"
    manifest = parse_manifest(json.dumps(document).encode())
    sections = check_manifest(manifest, LOCATION, "train_and_score")
    first_keys = verify_files(LOCATION, sections, store)
    with pytest.raises(ColumnMismatch, match="2 columns"):
        verify_first_rows(LOCATION, sections, first_keys, store)


def test_a_non_numeric_label_is_refused(document: dict[str, Any]) -> None:
    store = store_for(document)
    store.objects[f"{PREFIX}validation/data_0_0_0.csv"] = b"yes,1,2,3\n"
    manifest = parse_manifest(json.dumps(document).encode())
    sections = check_manifest(manifest, LOCATION, "train_and_score")
    first_keys = verify_files(LOCATION, sections, store)
    with pytest.raises(ColumnMismatch, match="non-numeric label 'yes'"):
        verify_first_rows(LOCATION, sections, first_keys, store)


def test_a_missing_id_is_refused(document: dict[str, Any]) -> None:
    store = store_for(document)
    store.objects[f"{PREFIX}score/data_0_0_0.csv"] = b",1,2,3\n"
    manifest = parse_manifest(json.dumps(document).encode())
    sections = check_manifest(manifest, LOCATION, "train_and_score")
    first_keys = verify_files(LOCATION, sections, store)
    with pytest.raises(ColumnMismatch, match="empty id"):
        verify_first_rows(LOCATION, sections, first_keys, store)
