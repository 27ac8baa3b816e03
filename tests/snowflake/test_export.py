"""sandbox.snowflake.export: the procedure's SELECTs (one source), the files, the manifest, the split."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot

from sandbox.snowflake.export import ExportError, export_dataset, export_id_for, section_keys
from sandbox.snowflake.setup import apply_setup
from snowsage.manifest import exported_sections, parse_manifest
from snowsage_setup.sqlscript import (
    EXPORT_PROCEDURE_FILE,
    export_queries,
    load_statements,
    render_export_query,
    setup_files,
    with_defaults,
)
from tooling.sample_data import load_sample_data

from .conftest import BUCKET, ROLE_ARN, SECOND_DATASET, apply_all, query, variables

NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


class RecordingS3:
    """boto3's S3 client, remembering the order of the keys it wrote."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.written: list[str] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.written.append(kwargs["Key"])
        return self._client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class RecordingConnection:
    """A connection whose cursors remember every statement they execute."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.executed: list[str] = []

    def cursor(self) -> Any:
        cur = self._conn.cursor()
        original = cur.execute

        def execute(sql: str, *args: Any, **kwargs: Any) -> Any:
            self.executed.append(sql)
            return original(sql, *args, **kwargs)

        cur.execute = execute
        return cur


@pytest.fixture
def loaded_conn(setup_conn: Any, s3: Any) -> Any:
    load_sample_data(setup_conn, 20_000, seed=5, s3_client=s3, bucket=BUCKET)
    return setup_conn


def read_csv(s3: Any, key: str) -> list[list[str]]:
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return list(csv.reader(io.StringIO(body)))


def test_export_ids_are_lower_case_utc_timestamps() -> None:
    assert export_id_for(NOW) == "20261126t100000z"


def test_the_sandbox_runs_the_procedures_select_texts(loaded_conn: Any, s3: Any, database: str) -> None:
    templates = export_queries()
    procedure = EXPORT_PROCEDURE_FILE.read_text()
    # the procedure runs its templates: picks one per section, replaces exactly these
    # placeholders (views qualified with the database and schema), and unloads the result
    assert (
        "IFF(section = 'train', train_query, IFF(section = 'validation', validation_query, score_query))"
        in (procedure)
    )
    for placeholder, value in (
        ("id_column", "id_column"),
        ("training_view", "db || '.' || sch || '.' || training_view"),
        ("scoring_view", "db || '.' || sch || '.' || scoring_view"),
    ):
        assert f"section_query := REPLACE(section_query, '{{{placeholder}}}', {value});" in procedure
    assert "|| ' FROM (' || section_query || ')'" in procedure
    assert set(re.findall(r"\{(\w+)\}", " ".join(templates.values()))) == {
        "id_column",
        "training_view",
        "scoring_view",
        "label_column",
    }
    assert "REPLACE(REPLACE(labels_query, '{label_column}', label_column)," in procedure

    recording = RecordingConnection(loaded_conn)
    export_dataset(recording, s3, BUCKET, "merchant_risk", now=NOW)
    expected = [
        render_export_query(
            templates[section],
            id_column="MERCHANT_ID",
            training_view=f"{database}.ML.MERCHANT_RISK_TRAINING",
            scoring_view=f"{database}.ML.MERCHANT_RISK_SCORING",
        )
        for section in ("train", "validation", "score")
    ]
    assert [sql for sql in recording.executed if sql.startswith("SELECT *")] == expected
    assert expected[0] == (
        f"SELECT * EXCLUDE (MERCHANT_ID) FROM {database}.ML.MERCHANT_RISK_TRAINING"
        " WHERE SUBSTR(MD5(TO_VARCHAR(MERCHANT_ID)), 1, 2) >= '33'"
    )


def test_export_templates_are_valid_snowflake_and_duckdb() -> None:
    for template in export_queries().values():
        sql = render_export_query(template, id_column="ID", training_view="DB.S.T", scoring_view="DB.S.V")
        parsed = sqlglot.parse_one(sql, read="snowflake")
        assert parsed.sql(dialect="duckdb")


def test_export_writes_sections_then_the_manifest(loaded_conn: Any, s3: Any) -> None:
    recording = RecordingS3(s3)
    manifest = export_dataset(loaded_conn, recording, BUCKET, "merchant_risk", now=NOW, rows_per_file=25)

    base = "exports/merchant_risk/20261126t100000z/"
    assert recording.written[-1] == f"{base}manifest.json"
    assert all(key.startswith(base) for key in recording.written)
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{base}manifest.json")["Body"].read())
    assert stored == manifest

    labels = query(
        loaded_conn,
        "SELECT COUNT(DISTINCT IS_RISKY), MIN(IS_RISKY), MAX(IS_RISKY) FROM MERCHANT_RISK_TRAINING",
    )
    assert {k: manifest[k] for k in manifest if k not in ("train", "validation", "score")} == {
        "version": 2,
        "dataset": "merchant_risk",
        "export_id": "20261126t100000z",
        "created_at": "2026-11-26T10:00:00Z",
        "id_column": "MERCHANT_ID",
        "label_column": "IS_RISKY",
        "predictions_table": "MERCHANT_RISK_PREDICTIONS",
        # the row leaves its model to the template
        "model": {
            "objective": None,
            "evaluation_metric": None,
            "evaluation_threshold": None,
            "hyperparameters": None,
            "training_script": None,
            "training_instance_count": None,
            "tuning": None,
            "training_engine": None,
            "scoring_engine": None,
            "endpoint": None,
            "endpoint_memory_mb": None,
            "endpoint_max_concurrency": None,
            "endpoint_instance_type": None,
            "endpoint_instance_count": None,
        },
        "label_summary": {"distinct": 2, "min": 0.0, "max": 1.0, "non_integers": 0},
        "predictions_columns": ["ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"],
        "engine": "SAGEMAKER",
        "sections": ["train", "validation", "score"],
        "scoring_engine": "SAGEMAKER",
        # the scoring view as the score section found it (its name, columns and rows)
        "scoring_view": {
            "name": "MERCHANT_RISK_SCORING",
            "columns": manifest["score"]["columns"],
            "rows": manifest["score"]["rows"],
        },
    }
    assert labels == [(2, 0, 1)]
    features = [c for c in manifest["score"]["columns"] if c != "MERCHANT_ID"]
    assert manifest["train"]["columns"] == ["IS_RISKY", *features]
    assert manifest["validation"]["columns"] == ["IS_RISKY", *features]
    assert manifest["score"]["columns"] == ["MERCHANT_ID", *features]
    assert len(features) == 11

    merchants = query(loaded_conn, "SELECT COUNT(*) FROM MERCHANT_RISK_SCORING")[0][0]
    labelled = query(loaded_conn, "SELECT COUNT(*) FROM MERCHANT_RISK_TRAINING")[0][0]
    assert manifest["score"]["rows"] == merchants
    assert manifest["train"]["rows"] + manifest["validation"]["rows"] == labelled

    for name in ("train", "validation", "score"):
        section = manifest[name]
        assert section["prefix"] == f"{base}{name}/"
        assert section["files"] == -(-section["rows"] // 25)  # bounded files: several of them
        keys = section_keys(s3, BUCKET, section)
        # INCLUDE_QUERY_ID = TRUE: data_<the section's query id>_0_0_<n>.csv
        query_id = keys[0].removeprefix(f"{base}{name}/data_").split("_0_0_")[0]
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", query_id), query_id
        assert sorted(keys) == sorted(
            f"{base}{name}/data_{query_id}_0_0_{i}.csv" for i in range(section["files"])
        )
        # the summary (manifest v2): what the files add up to, no per-file list
        sizes = [s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] for key in keys]
        assert min(sizes) > 0
        assert sum(sizes) == section["bytes"]
        counted = 0
        for key in keys:
            rows = read_csv(s3, key)
            counted += len(rows)
            assert all(len(row) == len(section["columns"]) for row in rows)
            if name == "score":
                assert all(row[0].startswith("M") for row in rows)  # id first, no header
            else:
                assert {row[0] for row in rows} <= {"0", "1"}  # numeric label first, no header
        assert counted == section["rows"]

    # the manifest satisfies the pipeline's own reader
    parsed = parse_manifest(json.dumps(manifest).encode())
    assert parsed.score.rows == manifest["score"]["rows"]


def test_a_snowflake_row_exports_score_only_and_says_so(loaded_conn: Any, s3: Any) -> None:
    """TRAINING_ENGINE = 'SNOWFLAKE' trains on the view; no training row reaches S3."""
    query(loaded_conn, "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'")
    recording = RecordingS3(s3)
    manifest = export_dataset(loaded_conn, recording, BUCKET, "merchant_risk", export_id="engine-sf")

    base = "exports/merchant_risk/engine-sf/"
    assert (manifest["engine"], manifest["sections"]) == ("SNOWFLAKE", ["score"])
    assert "train" not in manifest and "validation" not in manifest
    assert manifest["model"]["training_engine"] == "SNOWFLAKE"
    assert manifest["label_summary"]["distinct"] == 2  # still judged: one aggregate in Snowflake
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix=base)["Contents"]
    assert {item["Key"].removeprefix(base).split("/")[0] for item in stored} == {"score", "manifest.json"}
    assert all(key.startswith((f"{base}score/", f"{base}manifest.json")) for key in recording.written)
    parsed = parse_manifest(json.dumps(manifest).encode())
    assert parsed.train is None and parsed.engine == "SNOWFLAKE" and parsed.sections == ["score"]


def test_a_snowflake_scoring_row_unloads_no_score_and_counts_the_view(loaded_conn: Any, s3: Any) -> None:
    """SCORING_ENGINE = 'SNOWFLAKE' scores the view in place: no scoring row reaches S3; with both
    engines in Snowflake, no row of the dataset does."""
    query(loaded_conn, "UPDATE ML_DATASETS SET SCORING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'")
    recording = RecordingS3(s3)
    manifest = export_dataset(loaded_conn, recording, BUCKET, "merchant_risk", export_id="scoring-sf")
    merchants = query(loaded_conn, "SELECT COUNT(*) FROM MERCHANT_RISK_SCORING")[0][0]
    assert (manifest["scoring_engine"], manifest["sections"]) == ("SNOWFLAKE", ["train", "validation"])
    assert "score" not in manifest and manifest["model"]["scoring_engine"] == "SNOWFLAKE"
    assert manifest["scoring_view"]["name"] == "MERCHANT_RISK_SCORING"
    assert manifest["scoring_view"]["rows"] == merchants and len(manifest["scoring_view"]["columns"]) == 12
    assert not [key for key in recording.written if "/score/" in key]
    parsed = parse_manifest(json.dumps(manifest).encode())
    assert parsed.score is None and parsed.scoring_view is not None

    query(loaded_conn, "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'")
    both = RecordingS3(s3)
    manifest = export_dataset(loaded_conn, both, BUCKET, "merchant_risk", export_id="both-sf")
    assert manifest["sections"] == [] and both.written == ["exports/merchant_risk/both-sf/manifest.json"]


def test_the_procedure_skips_sections_a_snowflake_engine_reads_in_place() -> None:
    """The procedure's text does what the sandbox does (snowsage.manifest.exported_sections)."""
    body = next(
        s.text
        for s in load_statements(
            [EXPORT_PROCEDURE_FILE], with_defaults({"bucket": BUCKET, "aws_role_arn": ROLE_ARN})
        )
        if s.kind == "CREATE PROCEDURE"
    )
    assert "engine := IFF(training_engine = 'SNOWFLAKE', 'SNOWFLAKE', 'SAGEMAKER');" in body
    skip = "IF (engine = 'SNOWFLAKE' AND section <> 'score') THEN\n      CONTINUE;\n    END IF;"
    assert (
        body.index("section := rec.SECTION;") < body.index(skip) < body.index("EXECUTE IMMEDIATE :copy_sql;")
    )
    assert body.index("written := ARRAY_APPEND(written, section);") < body.index("END FOR;")
    # The SNOWFLAKE scoring engine: the score SELECT counted, not unloaded, and kept out of sections.
    assert "scoring := IFF(scoring_engine = 'SNOWFLAKE', 'SNOWFLAKE', 'SAGEMAKER');" in body
    count = (
        "IF (section = 'score' AND scoring = 'SNOWFLAKE') THEN\n"
        "      copy_sql := 'SELECT NULL, 0, COUNT(*) FROM ('"
    )
    assert body.index(count) < body.index("EXECUTE IMMEDIATE :copy_sql;")
    assert "IF (section <> 'score' OR scoring = 'SAGEMAKER') THEN\n      sections := OBJECT_INSERT(" in body
    assert "'engine', engine,\n    'sections', written,\n    'scoring_engine', scoring," in body
    assert exported_sections("SNOWFLAKE") == ("score",)
    assert exported_sections(None) == exported_sections("SAGEMAKER") == ("train", "validation", "score")
    assert exported_sections(None, "SNOWFLAKE") == ("train", "validation")
    assert exported_sections("SNOWFLAKE", "SNOWFLAKE") == ()


def test_split_is_md5_of_the_id_and_stable(loaded_conn: Any, s3: Any) -> None:
    first = export_dataset(loaded_conn, s3, BUCKET, "merchant_risk", export_id="split-a")
    second = export_dataset(loaded_conn, s3, BUCKET, "merchant_risk", export_id="split-b")
    for name in ("train", "validation"):
        assert first[name]["rows"] == second[name]["rows"]
        rows_a = [r for key in section_keys(s3, BUCKET, first[name]) for r in read_csv(s3, key)]
        rows_b = [r for key in section_keys(s3, BUCKET, second[name]) for r in read_csv(s3, key)]
        assert sorted(rows_a) == sorted(rows_b)

    ids = [row[0] for row in query(loaded_conn, "SELECT MERCHANT_ID FROM MERCHANT_RISK_TRAINING")]
    validation = [i for i in ids if hashlib.md5(i.encode()).hexdigest()[:2] < "33"]  # a split, not security
    assert first["validation"]["rows"] == len(validation)
    assert 0.1 < len(validation) / len(ids) < 0.3


def test_second_dataset_registers_and_exports(setup_conn: Any, s3: Any, database: str) -> None:
    apply_all(setup_conn, database, [SECOND_DATASET])
    load_sample_data(setup_conn, 5_000, seed=2, s3_client=s3, bucket=BUCKET)
    manifest = export_dataset(setup_conn, s3, BUCKET, "txn_refund", now=NOW, rows_per_file=1_000)

    assert manifest["id_column"] == "TXN_ID"
    assert manifest["label_column"] == "IS_REFUND"
    assert manifest["predictions_table"] == "TXN_REFUND_PREDICTIONS"
    assert manifest["train"]["columns"][0] == "IS_REFUND"
    assert manifest["score"]["columns"][0] == "TXN_ID"
    assert manifest["train"]["columns"][1:] == manifest["score"]["columns"][1:]
    total = query(setup_conn, "SELECT COUNT(*) FROM MERCHANT_TRANSACTIONS")[0][0]
    assert manifest["train"]["rows"] + manifest["validation"]["rows"] + manifest["score"]["rows"] == total
    assert manifest["train"]["files"] > 1
    # numeric ids split the same way: MD5 of the id's text
    validation_ids = {
        int(i)
        for (i,) in query(setup_conn, "SELECT TXN_ID FROM TXN_REFUND_TRAINING")
        if hashlib.md5(str(i).encode()).hexdigest()[:2] < "33"  # a split, not security
    }
    assert manifest["validation"]["rows"] == len(validation_ids)
    score_ids = [r[0] for key in section_keys(s3, BUCKET, manifest["score"]) for r in read_csv(s3, key)]
    assert all(i.isdigit() for i in score_ids)


def test_unknown_or_disabled_datasets_and_empty_sections_write_no_manifest(setup_conn: Any, s3: Any) -> None:
    with pytest.raises(ExportError, match="no enabled ML_DATASETS row"):
        export_dataset(setup_conn, s3, BUCKET, "nope", export_id="x1")
    with pytest.raises(ExportError, match="must match"):
        export_dataset(setup_conn, s3, BUCKET, "Bad Name", export_id="x1")
    # no transactions loaded: every section is empty
    recording = RecordingS3(s3)
    with pytest.raises(ExportError, match="no rows"):
        export_dataset(setup_conn, recording, BUCKET, "merchant_risk", export_id="empty")
    assert not any(key.endswith("manifest.json") for key in recording.written)
    query(setup_conn, "UPDATE ML_DATASETS SET ENABLED = FALSE")
    with pytest.raises(ExportError, match="no enabled ML_DATASETS row"):
        export_dataset(setup_conn, s3, BUCKET, "merchant_risk", export_id="x2")


def test_procedure_and_sandbox_share_the_registry_columns() -> None:
    statements = load_statements(
        [EXPORT_PROCEDURE_FILE], with_defaults({"bucket": BUCKET, "aws_role_arn": ROLE_ARN})
    )
    body = next(s.text for s in statements if s.kind == "CREATE PROCEDURE")
    assert "SELECT TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE" in body
    assert "WHERE NAME = :DATASET_NAME AND ENABLED" in body


def test_a_lower_case_schema_still_finds_the_columns(conn: Any, s3: Any, database: str) -> None:
    # `-D schema=ml`: an unquoted identifier, stored and reported as ML; the column query compares
    # in that case (the procedure's `sch := UPPER(sch)`), so the manifest keeps its columns.
    apply_setup(conn, setup_files(), {**variables(database), "schema": "ml"})
    load_sample_data(conn, 2_000, seed=3, s3_client=s3, bucket=BUCKET)
    manifest = export_dataset(conn, s3, BUCKET, "merchant_risk", export_id="lower-schema", schema="ml")
    assert manifest["score"]["columns"][0] == "MERCHANT_ID"
    assert manifest["train"]["columns"][0] == "IS_RISKY"
    assert len(manifest["train"]["columns"]) == len(manifest["score"]["columns"]) == 12


def test_the_procedure_compares_in_snowflakes_case_and_refuses_a_section_without_columns() -> None:
    body = next(
        s.text
        for s in load_statements(
            [EXPORT_PROCEDURE_FILE], with_defaults({"bucket": BUCKET, "aws_role_arn": ROLE_ARN})
        )
        if s.kind == "CREATE PROCEDURE"
    )
    assert body.index("sch := UPPER(sch);") < body.index(
        "WHERE TABLE_SCHEMA = :sch AND TABLE_NAME = :section_view"
    )
    no_columns = (
        "IF (section_columns IS NULL OR ARRAY_SIZE(section_columns) = 0) THEN\n      RAISE no_columns;"
    )
    assert body.index("INTO :section_columns") < body.index(no_columns) < body.index("RAISE column_order")
