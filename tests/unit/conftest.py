from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, manifest_document


@pytest.fixture
def document() -> dict[str, Any]:
    return copy.deepcopy(manifest_document())


@pytest.fixture
def settings() -> PrepareRunSettings:
    return PrepareRunSettings.from_env(
        {
            "BUCKET_NAME": BUCKET,
            "RESOURCE_PREFIX": "snowsage",
            "HYPERPARAMETERS": json.dumps(
                {"objective": "binary:logistic", "num_round": 50, "eval_metric": "auc"}
            ),
            "USE_SPOT_TRAINING": "false",
        }
    )
