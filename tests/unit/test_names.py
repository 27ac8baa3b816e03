import re

import pytest

from snowsage.errors import InvalidIdentifier
from snowsage.names import (
    SAGEMAKER_NAME,
    ManifestLocation,
    S3Uri,
    execution_name,
    model_package_group,
    name_base,
    run_id_for,
    sagemaker_name,
    validate_snowflake_identifier,
)


def test_execution_name_is_deterministic_and_valid() -> None:
    first = execution_name("merchant_risk", "20261126t100000z")
    assert first == execution_name("merchant_risk", "20261126t100000z") == "merchant_risk-20261126t100000z"
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", first)


def test_long_execution_names_are_shortened_with_a_hash_and_stay_unique() -> None:
    a = execution_name("d" * 60, "e" * 60)
    b = execution_name("d" * 60, "e" * 59 + "f")
    assert len(a) == 80 and len(b) == 80 and a != b


@pytest.mark.parametrize(
    "execution",
    ["merchant_risk-20261126t100000z", "3f1c0d2e-9a8b-4c7d-8e6f-5a4b3c2d1e0f", "X" * 80, "a_b__c"],
)
def test_sagemaker_names_fit_63_characters_for_every_retry(execution: str) -> None:
    base = name_base("snowsage", run_id_for(execution))
    for kind in ("train", "model", "score"):
        for retry in (0, 9, 10):
            name = sagemaker_name(base, kind, retry)
            assert SAGEMAKER_NAME.fullmatch(name), name
            assert len(name) <= 63


def test_run_id_lowercases_and_cleans() -> None:
    assert run_id_for("Merchant_Risk-2026") == "merchant-risk-2026"


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


def test_s3_uri_round_trip_and_join() -> None:
    uri = S3Uri.parse("s3://my-bucket/exports/a/")
    assert str(uri.join("b", "c.csv")) == "s3://my-bucket/exports/a/b/c.csv"
    with pytest.raises(ValueError, match="not an s3://"):
        S3Uri.parse("https://example.com/x")


def test_model_package_group_is_per_dataset() -> None:
    assert model_package_group("snowsage", "merchant_risk") == "snowsage-merchant-risk"
