import re
from pathlib import Path

import pytest

from snowsage.errors import InvalidIdentifier
from snowsage.names import (
    DATASET_MAX,
    DATASET_PATTERN,
    DIGESTED_RUN_ID,
    EXPORT_ID_MAX,
    RUN_ID_MAX,
    SAGEMAKER_NAME,
    SNOWFLAKE_IDENTIFIER,
    ManifestLocation,
    S3Uri,
    execution_name,
    model_package_group,
    name_base,
    run_id_for,
    validate_dataset,
    validate_export_id,
    validate_snowflake_identifier,
)


def test_execution_name_is_deterministic_and_valid() -> None:
    first = execution_name("merchant_risk", "20261126t100000z")
    assert first == execution_name("merchant_risk", "20261126t100000z") == "merchant_risk-20261126t100000z"
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", first)


def test_the_longest_names_make_an_execution_name_of_80() -> None:
    name = execution_name("d" * DATASET_MAX, "e" * EXPORT_ID_MAX)
    assert len(name) == 80
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", name)


def test_run_id_is_the_name_when_it_is_already_a_sagemaker_name_part() -> None:
    assert run_id_for("merchant-risk-2026") == "merchant-risk-2026"


def test_run_id_of_any_other_name_is_readable_and_carries_a_digest() -> None:
    run_id = run_id_for("Merchant_Risk-2026")
    assert run_id.startswith("merchant-risk-2026-h") and len(run_id) <= RUN_ID_MAX


@pytest.mark.parametrize("bad", ['x";drop', "a.b", "", "1abc", "a b", "../etc"])
def test_snowflake_identifiers_refuse_quotes_dots_and_paths(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        validate_snowflake_identifier(bad)


def test_snowflake_identifier_is_upper_cased() -> None:
    assert validate_snowflake_identifier("merchant_risk_predictions") == "MERCHANT_RISK_PREDICTIONS"


def test_manifest_location_from_key() -> None:
    location = ManifestLocation.from_key("b", "exports/merchant_risk/e1/manifest.json")
    assert location is not None
    assert (location.dataset, location.export_id, location.prefix) == (
        "merchant_risk",
        "e1",
        "exports/merchant_risk/e1/",
    )
    assert ManifestLocation.from_key("b", "exports/merchant_risk/e1/train/data.csv") is None
    assert ManifestLocation.from_key("b", "elsewhere/merchant_risk/e1/manifest.json") is None


@pytest.mark.parametrize(
    "key", ["exports/../x/manifest.json", "exports/a;b/e/manifest.json", "exports/A'B/e/manifest.json"]
)
def test_manifest_keys_with_unsafe_names_are_refused(key: str) -> None:
    with pytest.raises(InvalidIdentifier):
        ManifestLocation.from_key("b", key)


def test_s3_uri_round_trip() -> None:
    uri = S3Uri.parse("s3://my-bucket/exports/a/b.csv")
    assert (uri.bucket, uri.key, str(uri)) == (
        "my-bucket",
        "exports/a/b.csv",
        "s3://my-bucket/exports/a/b.csv",
    )
    with pytest.raises(ValueError, match="not an s3://"):
        S3Uri.parse("https://example.com/x")


def test_model_package_group_is_per_dataset() -> None:
    assert model_package_group("snowsage", "merchant_risk") == "snowsage-merchant-risk"


# --- item 8: names valid at the edges, and one-to-one --------------------------------------------
# API_CreateModelPackageGroup: ModelPackageGroupName [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
LONGEST_PREFIX = "p" + "9" * 11


@pytest.mark.parametrize("prefix", ["s", "snowsage", LONGEST_PREFIX])
@pytest.mark.parametrize("dataset", ["a", "a_b", "d" * DATASET_MAX, "_".join("ab" * 8 for _ in range(3))])
def test_model_package_group_is_valid_for_every_prefix_and_dataset(prefix: str, dataset: str) -> None:
    group = model_package_group(prefix, dataset)
    assert GROUP_NAME.fullmatch(group), group
    assert len(group) <= 63


@pytest.mark.parametrize(
    "bad",
    ["a-b", "_a", "a_", "a__b", "-a", "a-", "A", "a.b", "d" * (DATASET_MAX + 1), "", "a b", "a\n"],
)
def test_datasets_outside_snake_case_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        validate_dataset(bad)


@pytest.mark.parametrize("bad", ["-a", "_a", "A1", "e" * (EXPORT_ID_MAX + 1), "", "a/b", "a.b"])
def test_bad_export_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        validate_export_id(bad)


def test_a_b_and_a_dash_b_cannot_share_a_champion() -> None:
    """Before: both were valid datasets and both mapped to the group snowsage-a-b."""
    assert model_package_group("snowsage", "a_b") == "snowsage-a-b"
    with pytest.raises(InvalidIdentifier):
        model_package_group("snowsage", "a-b")


def _datasets() -> list[str]:
    words = ["a", "b", "ab", "0", "a0", "z" * 10]
    names = set(words)
    names |= {f"{x}_{y}" for x in words for y in words}
    names |= {f"{x}_{y}_{z}" for x in words[:3] for y in words[:3] for z in words[:3]}
    names |= {"d" * DATASET_MAX, "d" * (DATASET_MAX - 2) + "_e"}
    return sorted(names)


def _export_ids() -> list[str]:
    return ["1", "a", "a-b", "a_b", "a--b", "b-c", "20261126t100000z", "e" * EXPORT_ID_MAX, "x-" * 14 + "y"]


def test_dataset_to_group_is_one_to_one() -> None:
    datasets = _datasets()
    groups = {model_package_group(LONGEST_PREFIX, dataset) for dataset in datasets}
    assert len(groups) == len(datasets)


def test_dataset_and_export_to_execution_name_and_run_id_is_one_to_one() -> None:
    pairs = [(d, e) for d in _datasets() for e in _export_ids()]
    names = {execution_name(d, e) for d, e in pairs}
    assert len(names) == len(pairs)
    run_ids = {run_id_for(name) for name in names}
    assert len(run_ids) == len(pairs)
    for run_id in run_ids:
        base = name_base(LONGEST_PREFIX, run_id)
        assert SAGEMAKER_NAME.fullmatch(f"{base}-train-99"), run_id


def test_a_plain_name_never_equals_a_digested_one() -> None:
    """A plain name is its own run id; any other is digested ("-h" + 16 hex): the two never meet,
    even for a plain-looking name that ends like a digest."""
    plain = run_id_for("a-b-c")
    assert plain == "a-b-c"
    others = ["a_b-c", "a-b_c", "A-b-c", "a-b-c-", "a--b-c", "a-b-c-h0123456789abcdef"]
    digested = [run_id_for(name) for name in others]
    assert all(DIGESTED_RUN_ID.fullmatch(run_id) for run_id in digested)
    assert len({plain, *digested}) == len(others) + 1
    assert run_id_for(digested[0]) != digested[0]


@pytest.mark.parametrize("execution", ["a--b", "merchant_risk-20261126t020000z", "x" * 80, "a" * 41])
def test_run_ids_hold_no_sql_comment(execution: str) -> None:
    """The run id is part of an unquoted stage path in COPY INTO, where "--" starts a comment
    (Snowflake SQL: comments)."""
    assert "--" not in run_id_for(execution)


@pytest.mark.parametrize(
    "execution", ["x" * 80, "é" * 80, "-" * 80, "_", "a" * 40, "a" * 41, "1-" * 20 + "1", "Z" * 3]
)
def test_run_ids_at_the_edges_are_valid_sagemaker_name_parts(execution: str) -> None:
    run_id = run_id_for(execution)
    assert len(run_id) <= RUN_ID_MAX
    assert SAGEMAKER_NAME.fullmatch(f"{LONGEST_PREFIX}-{run_id}-score-99"), run_id


def test_the_export_procedure_refuses_the_datasets_the_pipeline_refuses() -> None:
    """EXPORT_DATASET checks the name with REGEXP_LIKE (whole-subject match) and a length."""
    sql = (Path(__file__).resolve().parents[2] / "snowflake/setup/30_export_procedure.sql").read_text()
    pattern = re.search(r"name_pattern VARCHAR DEFAULT '([^']+)'", sql)
    name_max = re.search(r"name_max INTEGER DEFAULT (\d+)", sql)
    assert pattern and name_max
    assert int(name_max.group(1)) == DATASET_MAX
    for name in [*_datasets(), "a-b", "_a", "a_", "a__b", "A", "d" * (DATASET_MAX + 1)]:
        accepted = bool(re.fullmatch(pattern.group(1), name)) and len(name) <= DATASET_MAX
        assert accepted == bool(DATASET_PATTERN.fullmatch(name)), name


def test_the_export_procedure_checks_identifiers_with_the_cores_grammar() -> None:
    sql = (Path(__file__).resolve().parents[2] / "snowflake/setup/30_export_procedure.sql").read_text()
    pattern = re.search(r"ident_pattern VARCHAR DEFAULT '([^']+)'", sql)
    assert pattern
    assert pattern.group(1) == SNOWFLAKE_IDENTIFIER.pattern


def test_the_training_procedure_accepts_exactly_the_datasets_and_run_ids_the_pipeline_makes() -> None:
    """TRAIN_MODEL's own checks (its Python body) are the core's grammars: a dataset with a leading
    digit, which the pipeline exports, must train in Snowflake too."""
    sql = (Path(__file__).resolve().parents[2] / "snowflake/setup/35_training_procedure.sql").read_text()
    dataset = re.search(r'^DATASET = re\.compile\(r"([^"]+)"\)', sql, re.MULTILINE)
    run = re.search(r'^RUN = re\.compile\(r"([^"]+)"\)', sql, re.MULTILINE)
    assert dataset and run
    for name in [*_datasets(), "2024_sales", "a-b", "_a", "a_", "a__b", "A", "d" * (DATASET_MAX + 1)]:
        assert bool(re.fullmatch(dataset.group(1), name)) == bool(DATASET_PATTERN.fullmatch(name)), name
    for execution in ["merchant_risk-20261126t100000z", "X" * 90, "2024_sales-1", "a--b", "rerun-1"]:
        run_id = run_id_for(execution)
        assert re.fullmatch(run.group(1), run_id), run_id
    for bad in ["A", "a_b", "-a", "a-", "a" * (RUN_ID_MAX + 1), "a--b"]:
        assert not re.fullmatch(run.group(1), bad), bad
