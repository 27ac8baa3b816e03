"""snowsage.prices covers what the template can deploy: every region, the default instance types."""

from __future__ import annotations

import pytest

from snowsage.prices import AS_OF, PRICES
from tests.template.template_model import template

PRICED_REGIONS = set(PRICES)


def supported_regions() -> set[str]:
    """The regions the template deploys to: those its XGBoost image mapping names."""
    return set(template()["Mappings"]["XGBoostImageRegistry"])


def default(parameter: str) -> str:
    return str(template()["Parameters"][parameter]["Default"])


def test_prices_are_dated_and_cover_the_default_instances_where_they_exist() -> None:
    assert AS_OF
    for region, prices in PRICES.items():
        assert default("TrainingInstanceType") in prices.training_per_hour, region
        assert default("TransformInstanceType") in prices.transform_per_hour, region
        assert prices.step_functions_per_transition > 0 and prices.lambda_arm64_per_gb_second > 0, region


@pytest.mark.xfail(
    strict=True,
    reason="prices were recorded for us-east-1 only: the other regions' figures need the AWS price"
    " pages (or the Price List API), not reachable from the machine that wrote them; a region without"
    " a price records COST_USD NULL, never a wrong figure. Strict: this turns red once they are added.",
)
def test_every_region_the_template_supports_has_prices() -> None:
    missing = supported_regions() - PRICED_REGIONS
    assert not missing, f"no prices for {sorted(missing)} in layers/common/snowsage/prices.py"


def test_the_priced_regions_are_regions_the_template_supports() -> None:
    assert supported_regions() >= PRICED_REGIONS
