import re

import pytest

from snowsage.errors import InvalidIdentifier
from snowsage.names import (
    ManifestLocation,
    S3Uri,
    execution_name,
    model_package_group,
    run_id_for,
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
