"""AWS list prices per region, dated and sourced: what a run's billed usage costs (snowsage.cost).

Sources (public price pages; the figures below were copied from them, ``AS_OF``):
- Step Functions Standard workflows, per state transition: https://aws.amazon.com/step-functions/pricing/
- Lambda, Arm (Graviton2; the template's Architectures), per GB-second and per request:
  https://aws.amazon.com/lambda/pricing/
- SageMaker AI on-demand training and batch transform, per instance-hour:
  https://aws.amazon.com/sagemaker/pricing/ (managed spot training is billed per
  BillableTimeInSeconds, which already holds the spot saving: the on-demand rate applies)
- Snowflake warehouse time: credits per hour of a standard (Gen1) warehouse by size, from
  https://docs.snowflake.com/en/user-guide/warehouses-overview ("Warehouse size"); the price of a
  credit is the account's contract (edition, region, capacity discounts): the template's
  SnowflakeCreditPriceUsd, whose default is the on-demand Standard edition price in AWS US East
  (https://www.snowflake.com/en/pricing-options/, ``CREDIT_PRICE_AS_OF``).

Other regions: Step Functions' page publishes its per-region table (e.g. $0.0250 per 1,000
transitions in Europe (Ireland), $0.0297 in Europe (Paris)), but Lambda's and SageMaker's pages
render their per-region prices from the Price List API in the browser: their figures were not
readable from the machine that wrote this, and a row needs all three (no figure is guessed).

Every region the template supports (its XGBoostImageRegistry mapping) must have a row:
tests/unit/test_prices.py fails otherwise. A region missing here makes the run's COST_USD NULL
(never a wrong figure): cost.run_cost raises UnpricedUsage and RecordRun records no cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

AS_OF: Final = "2025"
CREDIT_PRICE_AS_OF: Final = "2026"


@dataclass(frozen=True)
class RegionPrices:
    step_functions_per_transition: float
    lambda_arm64_per_gb_second: float
    lambda_per_request: float
    training_per_hour: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    transform_per_hour: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))


_M5 = MappingProxyType({"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461})

PRICES: Final[MappingProxyType[str, RegionPrices]] = MappingProxyType(
    {
        "us-east-1": RegionPrices(
            step_functions_per_transition=0.000025,
            lambda_arm64_per_gb_second=0.0000133334,
            lambda_per_request=0.20 / 1_000_000,
            training_per_hour=_M5,
            transform_per_hour=_M5,
        ),
    }
)

# Credits per hour of a standard (Gen1) warehouse, by the size names WAREHOUSE_SIZE takes (docs:
# sql-reference/sql/create-warehouse). Snowpark-optimized and Gen2 warehouses bill other rates
# (the Snowflake Service Consumption Table): their cost here is that of the standard size.
WAREHOUSE_CREDITS_PER_HOUR: Final[MappingProxyType[str, int]] = MappingProxyType(
    {
        "XSMALL": 1,
        "SMALL": 2,
        "MEDIUM": 4,
        "LARGE": 8,
        "XLARGE": 16,
        "XXLARGE": 32,
        "XXXLARGE": 64,
        "X4LARGE": 128,
        "X5LARGE": 256,
        "X6LARGE": 512,
    }
)
DEFAULT_WAREHOUSE_SIZE: Final = "XSMALL"
# USD per credit, on demand, Standard edition, AWS US East (N. Virginia): the template's default.
DEFAULT_CREDIT_PRICE_USD: Final = 2.00
