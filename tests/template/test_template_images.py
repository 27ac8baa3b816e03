"""The XGBoost image mapping in template.yaml equals sagemaker-core's image_uris for every region."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scripts import xgboost_images
from tests.template.template_model import TEMPLATE_PATH, resources, template

image_uris = pytest.importorskip("sagemaker.core.image_uris")

# AWS::URLSuffix per partition, for the host part of the image URI.
URL_SUFFIX = [
    (re.compile(r"cn-"), "amazonaws.com.cn"),
    (re.compile(r"us-isob-"), "sc2s.sgov.gov"),
    (re.compile(r"us-isof-"), "csp.hci.ic.gov"),
    (re.compile(r"us-iso-"), "c2s.ic.gov"),
    (re.compile(r""), "amazonaws.com"),
]


def _mapping() -> dict[str, Any]:
    return dict(template()["Mappings"][xgboost_images.MAPPING_NAME])


def _allowed_versions() -> list[str]:
    return list(template()["Parameters"]["XGBoostVersion"]["AllowedValues"])


def _url_suffix(region: str) -> str:
    return next(suffix for pattern, suffix in URL_SUFFIX if pattern.match(region))


def _template_image_uri(region: str, version: str) -> str:
    """Evaluate the XGBoostImageUri substitution the way CloudFormation does for one region."""
    value = resources()["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]["XGBoostImageUri"]
    text, variables = value["Fn::Sub"]
    assert variables == {
        "Account": {"Fn::FindInMap": ["XGBoostImageRegistry", {"Ref": "AWS::Region"}, "Account"]}
    }
    account = _mapping()[region]["Account"]
    return (
        text.replace("${Account}", account)
        .replace("${AWS::Region}", region)
        .replace("${AWS::URLSuffix}", _url_suffix(region))
        .replace("${XGBoostVersion}", version)
    )


def test_generated_blocks_are_up_to_date() -> None:
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert xgboost_images.generate(text, xgboost_images.load_config()) == text, (
        "run: python scripts/xgboost_images.py"
    )


def test_allowed_versions_and_default() -> None:
    parameter = template()["Parameters"]["XGBoostVersion"]
    assert parameter["Default"] == "1.7-1"
    assert parameter["Default"] in parameter["AllowedValues"]
    assert {"1.7-1", "3.0-5"} <= set(parameter["AllowedValues"])


def test_mapping_covers_every_region_sagemaker_core_knows() -> None:
    config = xgboost_images.load_config()
    regions = set(config["training"]["versions"]["1.7-1"]["registries"])
    assert set(_mapping()) == regions
    assert all(re.fullmatch(r"\d{12}", entry["Account"]) for entry in _mapping().values())


@pytest.mark.parametrize("version", _allowed_versions())
def test_image_uri_matches_image_uris_retrieve_in_every_region(version: str) -> None:
    mismatches = []
    for region in sorted(_mapping()):
        for scope in ("training", "inference"):
            expected = image_uris.retrieve("xgboost", region=region, version=version, image_scope=scope)
            if _template_image_uri(region, version) != expected:
                mismatches.append((region, scope, expected))
    assert mismatches == []


def test_sagemaker_role_pulls_from_the_mapped_registry() -> None:
    policies = resources()["SageMakerExecutionRole"]["Properties"]["Policies"]
    statements = [st for policy in policies for st in policy["PolicyDocument"]["Statement"]]
    pull = next(st for st in statements if st.get("Sid") == "PullXGBoostImage")
    text, variables = pull["Resource"]["Fn::Sub"]
    assert text.endswith(":${Account}:repository/sagemaker-xgboost")
    assert variables["Account"] == {
        "Fn::FindInMap": ["XGBoostImageRegistry", {"Ref": "AWS::Region"}, "Account"]
    }
