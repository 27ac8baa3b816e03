"""Bad input through the whole sandbox: each is refused in PrepareRun with its own error.

Bad manifests are written to S3 the way a broken export would write them (data files first,
the manifest last, so its S3 event starts the run through EventBridge and StartPipeline); bad
execution inputs are hand starts. All cases start at once (as a busy bucket would) and each test
then checks one outcome: FAILED in PrepareRun with the specific error type and message, the
FAILED row in ML_RUNS, nothing trained and no prediction rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.aws.executions import wait_for_execution, wait_for_execution_named
from sandbox.services import Sandbox
from tests.reliability.helpers import (
    DATASET,
    assert_failed_cleanly,
    auto_start_off,
    clone_export,
    export_quietly,
    failures_in,
    first_file,
    manifest_uri,
    name_for,
    prediction_count,
    put_manifest,
)

pytestmark = pytest.mark.e2e

Manifest = dict[str, Any]


def _s3_get(sb: Sandbox, key: str) -> bytes:
    body: bytes = sb.client("s3").get_object(Bucket=sb.bucket, Key=key)["Body"].read()
    return body


def _s3_put(sb: Sandbox, key: str, body: bytes) -> None:
    sb.client("s3").put_object(Bucket=sb.bucket, Key=key, Body=body)


# --- how each bad manifest is made (data files changed in S3, then the manifest returned) --------


def _unknown_version(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "version": 3}


def _model_setting(**model: object) -> Callable[[Sandbox, Manifest], Manifest]:
    """A version 2 manifest whose ML_DATASETS row set ``model`` (the other settings the template's)."""

    def make(sb: Sandbox, m: Manifest) -> Manifest:
        return {**m, "version": 2, "model": {**m.get("model", {}), **model}}

    return make


def _missing_fields(sb: Sandbox, m: Manifest) -> Manifest:
    return {key: value for key, value in m.items() if key not in {"id_column", "score"}}


def _file_missing(sb: Sandbox, m: Manifest) -> Manifest:
    sb.client("s3").delete_object(Bucket=sb.bucket, Key=first_file(sb, m, "train"))
    return m


def _unlisted_file(sb: Sandbox, m: Manifest) -> Manifest:
    _s3_put(sb, m["score"]["prefix"] + "data_stray_0_0_0.csv", b"M-1,1,2\n")
    return m


def _file_changed(sb: Sandbox, m: Manifest) -> Manifest:
    key = first_file(sb, m, "validation")
    _s3_put(sb, key, _s3_get(sb, key) * 2)
    return m


def _empty_file(sb: Sandbox, m: Manifest) -> Manifest:
    _s3_put(sb, first_file(sb, m, "score"), b"")
    return m


def _zero_rows(sb: Sandbox, m: Manifest) -> Manifest:
    key = first_file(sb, m, "validation")
    _s3_put(sb, key, b"")
    m["validation"] = {**m["validation"], "rows": 0, "files": [{"key": key, "rows": 0, "size": 0}]}
    return m


def _extra_column(sb: Sandbox, m: Manifest) -> Manifest:
    for section in ("train", "validation", "score"):
        m[section] = {**m[section], "columns": [*m[section]["columns"], "EXTRA_FEATURE"]}
    return m


def _features_differ(sb: Sandbox, m: Manifest) -> Manifest:
    label, first, second, *rest = m["train"]["columns"]
    m["train"] = {**m["train"], "columns": [label, second, first, *rest]}
    return m


def _non_numeric_label(sb: Sandbox, m: Manifest) -> Manifest:
    key = first_file(sb, m, "train")
    first, rest = _s3_get(sb, key).split(b"\n", 1)
    # The label ("0" or "1") becomes "y": the same size, so only the first-row check can tell.
    _s3_put(sb, key, b"y," + first.split(b",", 1)[1] + b"\n" + rest)
    return m


def _missing_id_column(sb: Sandbox, m: Manifest) -> Manifest:
    m["score"] = {**m["score"], "columns": m["score"]["columns"][1:]}
    return m


def _oversize(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "comment": " " * (1024 * 1024)}


def _table_with_semicolon(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "predictions_table": "MERCHANT_RISK_PREDICTIONS; DROP TABLE ML_RUNS"}


def _table_with_dot(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "predictions_table": "ML.MERCHANT_RISK_PREDICTIONS"}


def _column_with_quotes(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "label_column": '"IS_RISKY"'}


def _dataset_traversal(sb: Sandbox, m: Manifest) -> Manifest:
    return {**m, "dataset": "../merchant_risk"}


def _file_key_traversal(sb: Sandbox, m: Manifest) -> Manifest:
    # A version 1 file list (still read) naming a key outside the prefix.
    key = m["train"]["prefix"] + "../../../sample/data.csv"
    files = [{"key": key, "rows": m["train"]["rows"], "size": m["train"]["bytes"]}]
    m["train"] = {**m["train"], "files": files}
    return m


@dataclass(frozen=True)
class BadManifest:
    error: str
    message: str
    make: Callable[[Sandbox, Manifest], Manifest] | None = None
    raw: bytes | None = None

    def build(self, sb: Sandbox, manifest: Manifest) -> bytes | Manifest:
        """The bad manifest's body (after changing the export's files in S3, if the case does)."""
        if self.raw is not None:
            return self.raw
        assert self.make is not None
        return self.make(sb, manifest)


BAD_MANIFESTS: dict[str, BadManifest] = {
    "malformed-json": BadManifest(
        "ManifestSchemaError", "manifest is not valid JSON", raw=b'{"version": 1, "dataset": '
    ),
    "unknown-version": BadManifest(
        "ManifestVersionError", "manifest version 3 is not supported", _unknown_version
    ),
    "missing-fields": BadManifest("ManifestSchemaError", "id_column: Field required", _missing_fields),
    # A dataset's model settings (its ML_DATASETS row) that do not fit: refused in PrepareRun.
    "unknown-objective": BadManifest(
        "InvalidModelSettings",
        "dataset merchant_risk: ML_DATASETS.OBJECTIVE 'reg:nope' is not an objective",
        _model_setting(objective="reg:nope"),
    ),
    "metric-not-fitting": BadManifest(
        "InvalidModelSettings",
        "ML_DATASETS.EVALUATION_METRIC 'validation:auc' does not fit objective reg:squarederror",
        _model_setting(
            objective="reg:squarederror", evaluation_metric="validation:auc", evaluation_threshold=1
        ),
    ),
    "row-hyperparameters-text": BadManifest(
        "InvalidModelSettings",
        "ML_DATASETS.HYPERPARAMETERS must be a JSON object of names to values, not str",
        _model_setting(hyperparameters='"max_depth=4"'),
    ),
    "file-missing": BadManifest("ExportFileMissing", "train: the manifest counts", _file_missing),
    "unlisted-file": BadManifest("ExportFileUnlisted", "1 not in the export", _unlisted_file),
    "file-changed": BadManifest("ExportSizeMismatch", "a file was changed or replaced", _file_changed),
    "empty-file": BadManifest("ExportFileEmpty", "is empty in S3", _empty_file),
    "zero-rows": BadManifest(
        "ExportFileEmpty", "validation has 0 rows; an export needs at least one", _zero_rows
    ),
    "columns-not-matching-data": BadManifest(
        "ColumnMismatch", "columns in its first row; the manifest lists 13", _extra_column
    ),
    "features-differ-by-section": BadManifest(
        "ColumnMismatch", "differ from score features", _features_differ
    ),
    "non-numeric-label": BadManifest("ColumnMismatch", "has a non-numeric label 'y'", _non_numeric_label),
    "missing-id-column": BadManifest("ColumnMismatch", "expected the id 'MERCHANT_ID'", _missing_id_column),
    "oversize-manifest": BadManifest("ManifestError", "a manifest may be at most 1048576", _oversize),
    "table-with-semicolon": BadManifest(
        "InvalidIdentifier", "is not a plain Snowflake identifier", _table_with_semicolon
    ),
    "table-with-dot": BadManifest("InvalidIdentifier", "'ML.MERCHANT_RISK_PREDICTIONS'", _table_with_dot),
    "column-with-quotes": BadManifest(
        "InvalidIdentifier", "label_column '\"IS_RISKY\"'", _column_with_quotes
    ),
    "dataset-path-traversal": BadManifest(
        "InvalidIdentifier", "dataset '../merchant_risk' is not valid", _dataset_traversal
    ),
    # S3 has no '..': the key is taken literally, is not in the listing of the prefix, and
    # SageMaker reads the prefix, never a listed key.
    "file-key-path-traversal": BadManifest("ExportFileMissing", "is listed but missing", _file_key_traversal),
}


@dataclass(frozen=True)
class BadExecutionInput:
    error: str
    message: str
    document: Callable[[Sandbox], dict[str, Any]]


def _uri(sb: Sandbox) -> str:
    return manifest_uri(sb, "base")


BAD_INPUTS: dict[str, BadExecutionInput] = {
    "unknown-key": BadExecutionInput(
        "InvalidExecutionInput",
        "modee: Extra inputs are not permitted",
        lambda sb: {"manifest": _uri(sb), "modee": "score_only"},
    ),
    "wrong-type": BadExecutionInput(
        "InvalidExecutionInput",
        "evaluation_threshold: Input should be a valid number",
        lambda sb: {"manifest": _uri(sb), "evaluation_threshold": "high"},
    ),
    "unknown-mode": BadExecutionInput(
        "InvalidExecutionInput",
        "mode: Input should be",
        lambda sb: {"manifest": _uri(sb), "mode": "train_only"},
    ),
    "hyperparameters-not-an-object": BadExecutionInput(
        "InvalidExecutionInput",
        "hyperparameters: Input should be a valid dictionary",
        lambda sb: {"manifest": _uri(sb), "hyperparameters": ["max_depth", 6]},
    ),
    "no-manifest": BadExecutionInput(
        "InvalidExecutionInput", "manifest: Field required", lambda sb: {"mode": "score_only"}
    ),
    "not-a-manifest-uri": BadExecutionInput(
        "InvalidIdentifier",
        "is not a manifest URI",
        lambda sb: {"manifest": f"s3://{sb.bucket}/exports/{DATASET}/base/train/data_0_0_0.csv"},
    ),
    "uri-path-traversal": BadExecutionInput(
        "InvalidIdentifier",
        "dataset '..' is not valid",
        lambda sb: {"manifest": f"s3://{sb.bucket}/exports/../base/manifest.json"},
    ),
    "uri-with-quote-and-semicolon": BadExecutionInput(
        "InvalidIdentifier",
        "is not valid",
        lambda sb: {"manifest": f"s3://{sb.bucket}/exports/merchant_risk';drop/base/manifest.json"},
    ),
    "other-bucket": BadExecutionInput(
        "InvalidExecutionInput",
        "is not this pipeline's bucket",
        lambda sb: {"manifest": f"s3://someone-elses-bucket/exports/{DATASET}/base/manifest.json"},
    ),
    "manifest-not-found": BadExecutionInput(
        "ManifestNotFound", "does not exist", lambda sb: {"manifest": manifest_uri(sb, "never-exported")}
    ),
}


@dataclass
class Outcomes:
    runs: dict[str, pipeline_run.RunResult] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outcomes(sb: Sandbox) -> Outcomes:
    """Write every bad export and start every bad input, then follow all the executions."""
    sfn = sb.client("stepfunctions")
    base = export_quietly(sb, "base")
    with auto_start_off(sb):  # the data files of each bad export, then ...
        manifests = {}
        for case_id, case in BAD_MANIFESTS.items():
            manifest = clone_export(sb, base, case_id)
            manifests[case_id] = case.build(sb, manifest)
    for case_id, body in manifests.items():  # ... each manifest LAST: its event starts the run
        put_manifest(sb, case_id, body)
    arns = {}
    for case_id, bad in BAD_INPUTS.items():
        arns[case_id] = sfn.start_execution(
            stateMachineArn=sb.state_machine_arn,
            name=f"bad-input-{case_id}",
            input=json.dumps(bad.document(sb)),
        )["executionArn"]
    moto_patches.wait_for_event_deliveries()
    for case_id in BAD_MANIFESTS:
        arns[case_id] = wait_for_execution_named(sfn, sb.state_machine_arn, name_for(case_id))
    result = Outcomes()
    for case_id, arn in arns.items():
        summary = wait_for_execution(sfn, arn)
        result.runs[case_id] = pipeline_run.RunResult(execution=summary, manifest={})
    return result


def _assert_refused_in_prepare_run(
    sb: Sandbox, result: pipeline_run.RunResult, error: str, message: str
) -> None:
    assert_failed_cleanly(sb, result, state="PrepareRun", error=error, message=message)
    assert failures_in(sb, result.execution.arn, "PrepareRun") == [error]  # permanent: no retry
    assert result.execution.span("Train") is None


@pytest.mark.parametrize("case_id", list(BAD_MANIFESTS))
def test_bad_manifest_is_refused(sb: Sandbox, outcomes: Outcomes, case_id: str) -> None:
    case = BAD_MANIFESTS[case_id]
    _assert_refused_in_prepare_run(sb, outcomes.runs[case_id], case.error, case.message)
    assert prediction_count(sb, case_id) == 0


@pytest.mark.parametrize("case_id", list(BAD_INPUTS))
def test_bad_execution_input_is_refused(sb: Sandbox, outcomes: Outcomes, case_id: str) -> None:
    case = BAD_INPUTS[case_id]
    _assert_refused_in_prepare_run(sb, outcomes.runs[case_id], case.error, case.message)
    assert prediction_count(sb, "base") == 0


def test_identifiers_are_never_run_as_sql(sb: Sandbox, outcomes: Outcomes) -> None:
    """The ';DROP TABLE' manifest was refused before any SQL: ML_RUNS and the table are intact."""
    assert outcomes.runs["table-with-semicolon"].status == "FAILED"
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM ML_RUNS")
        assert cursor.fetchone()[0] >= len(BAD_MANIFESTS) + len(BAD_INPUTS)
        cursor.execute("SELECT COUNT(*) FROM MERCHANT_RISK_PREDICTIONS")
        assert cursor.fetchone()[0] == 0


# --- keys StartPipeline must not act on ------------------------------------------------------------


def _execution_count(sb: Sandbox) -> int:
    sfn = sb.client("stepfunctions")
    return sum(
        len(page["executions"])
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=sb.state_machine_arn)
    )


def _start_pipeline_results(sb: Sandbox, key: str) -> list[dict[str, Any]]:
    assert sb.runtime is not None
    function = sb.deployed.functions["StartPipelineFunction"]
    return [
        json.loads(invocation.payload)
        for invocation in sb.runtime.invocations_of(function)
        if isinstance(invocation.event, dict)
        and invocation.event.get("detail", {}).get("object", {}).get("key") == key
    ]


OUTSIDE_THE_RULE = [
    "imports/merchant_risk/e1/manifest.json",
    "exports/merchant_risk/e1/manifest.json.tmp",
    "merchant_risk/exports/e1/manifest.json",
]
# The rule's wildcard (exports/*/*/manifest.json) lets these through; StartPipeline ignores them.
IGNORED_BY_START_PIPELINE = [
    "exports/merchant_risk/e1/train/manifest.json",
    "exports/merchant'risk/e1/manifest.json",
    "exports/merchant_risk/e1;drop table ml_runs/manifest.json",
    "exports/../e1/manifest.json",
    "exports/Merchant.Risk/e1/manifest.json",
]


def test_keys_outside_exports_start_nothing(sb: Sandbox, outcomes: Outcomes) -> None:
    before = _execution_count(sb)
    for key in OUTSIDE_THE_RULE + IGNORED_BY_START_PIPELINE:
        _s3_put(sb, key, b"{}")
    moto_patches.wait_for_event_deliveries()

    assert _execution_count(sb) == before
    for key in OUTSIDE_THE_RULE:
        assert _start_pipeline_results(sb, key) == [], key  # the EventBridge rule never matched
    for key in IGNORED_BY_START_PIPELINE:
        results = _start_pipeline_results(sb, key)
        assert [result["status"] for result in results] == ["ignored"], (key, results)
        assert results[0]["execution_name"] is None


def test_start_pipeline_ignores_a_key_outside_exports_when_invoked_directly(sb: Sandbox) -> None:
    """Even if the rule were widened, the handler's own check holds."""
    before = _execution_count(sb)
    event = json.loads(open("events/start_pipeline/manifest_created.json").read())  # noqa: SIM115
    event["detail"]["bucket"]["name"] = sb.bucket
    event["detail"]["object"]["key"] = "imports/merchant_risk/e1/manifest.json"
    response = sb.client("lambda").invoke(
        FunctionName=sb.deployed.functions["StartPipelineFunction"], Payload=json.dumps(event).encode()
    )
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response
    assert result["status"] == "ignored"
    assert "is not exports/<dataset>/<export_id>/manifest.json" in result["reason"]
    assert _execution_count(sb) == before
