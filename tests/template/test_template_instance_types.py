"""Instance types: one list in the core, the same in the template, from botocore and AWS's docs."""

from __future__ import annotations

import botocore.session
import pytest

from scripts import instance_types
from snowsage.instance_types import ENDPOINT_INSTANCE_TYPES, TRAINING_INSTANCE_TYPES, TRANSFORM_INSTANCE_TYPES
from tests.template.template_model import TEMPLATE_PATH, template


def test_generated_lists_are_up_to_date() -> None:
    core = instance_types.CORE.read_text(encoding="utf-8")
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    assert instance_types.generate_core(core) == core, "run: python scripts/instance_types.py"
    assert instance_types.generate_template(text) == text, "run: python scripts/instance_types.py"


@pytest.mark.parametrize(
    ("parameter", "allowed"),
    [
        ("TrainingInstanceType", TRAINING_INSTANCE_TYPES),
        ("TransformInstanceType", TRANSFORM_INSTANCE_TYPES),
        ("EndpointInstanceType", ENDPOINT_INSTANCE_TYPES),
    ],
)
def test_the_template_allows_exactly_the_core_list(parameter: str, allowed: tuple[str, ...]) -> None:
    declared = template()["Parameters"][parameter]
    assert declared["AllowedValues"] == list(allowed)
    assert declared["Default"] in allowed
    assert "AllowedPattern" not in declared


@pytest.mark.parametrize(
    ("shape", "allowed"),
    [
        ("TrainingInstanceType", TRAINING_INSTANCE_TYPES),
        ("TransformInstanceType", TRANSFORM_INSTANCE_TYPES),
        ("ProductionVariantInstanceType", ENDPOINT_INSTANCE_TYPES),
    ],
)
def test_every_type_is_one_sagemaker_accepts_for_the_job_kind(shape: str, allowed: tuple[str, ...]) -> None:
    enum = botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).enum
    assert set(allowed) <= set(enum)


def test_training_gpus_are_the_documented_families_and_transform_has_none() -> None:
    gpu = {t.split(".")[1] for t in TRAINING_INSTANCE_TYPES if t.split(".")[1][0] in "gp"}
    assert gpu == {"p2", "p3", "g4dn", "g5"}
    assert not [t for t in TRANSFORM_INSTANCE_TYPES if t.split(".")[1][0] in "gpit"]
    assert not [t for t in ENDPOINT_INSTANCE_TYPES if t.split(".")[1][0] in "gpit"]
    assert not [t for t in TRAINING_INSTANCE_TYPES if t.split(".")[1][0] in "it"]
