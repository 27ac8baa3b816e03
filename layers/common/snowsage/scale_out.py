"""Scale-out: several training instances reading the export sharded by S3 key, GPU tree methods,
and a batch transform spread over instances by file.

* Several instances: the train channel is ``ShardedByS3Key``, so each instance downloads about 1/n
  of the objects (docs: API_S3DataSource, S3DataDistributionType) and the built-in XGBoost trains
  across them (docs: sagemaker/latest/dg/xgboost.html, "distributed training"; an instance needs at
  least one file). The validation channel stays ``FullyReplicated``: every instance evaluates on all
  of it. More instances than training files would leave one without data: PrepareRun refuses it.
* GPU instance families train with the GPU tree method (docs: sagemaker/latest/dg/xgboost.html,
  "EC2 instance recommendation", GPU training: ``tree_method`` ``gpu_hist`` for 1.x; xgboost 2.0
  and later spell it ``tree_method=hist`` with ``device=cuda``), unless the dataset sets its own.
* A batch transform hands whole objects to instances (docs: sagemaker/latest/dg/batch-transform,
  "an object is processed by one instance"): more instances than score files would idle, so the
  count is capped at the number of files.
"""

from __future__ import annotations

import re
from typing import Literal

from snowsage.errors import InvalidModelSettings
from snowsage.instance_types import TRAINING_GPU_FAMILIES

Distribution = Literal["FullyReplicated", "ShardedByS3Key"]
SHARDED: Distribution = "ShardedByS3Key"
REPLICATED: Distribution = "FullyReplicated"


def instance_family(instance_type: str) -> str:
    """``ml.g4dn.xlarge`` -> ``g4dn``."""
    return instance_type.split(".")[1] if instance_type.count(".") >= 2 else instance_type


def is_gpu(instance_type: str) -> bool:
    return instance_family(instance_type) in TRAINING_GPU_FAMILIES


def xgboost_major(image_uri: str) -> int:
    """``.../sagemaker-xgboost:1.7-1`` -> 1; ``:3.0-5`` -> 3 (an unknown tag counts as 1)."""
    match = re.search(r":(\d+)\.\d+-\d+", image_uri)
    return int(match.group(1)) if match else 1


def gpu_hyperparameters(instance_type: str, image_uri: str) -> dict[str, str]:
    """The hyperparameters a GPU instance trains with; none for CPU instances."""
    if not is_gpu(instance_type):
        return {}
    if xgboost_major(image_uri) >= 2:
        return {"tree_method": "hist", "device": "cuda"}
    return {"tree_method": "gpu_hist"}


def train_distribution(*, dataset: str, instance_count: int, train_files: int, where: str) -> Distribution:
    """The train channel's S3DataDistributionType; refuses more instances than training files."""
    if instance_count > train_files:
        raise InvalidModelSettings(
            f"dataset {dataset}: {where} {instance_count} is more instances than the export's"
            f" {train_files} training file(s): with ShardedByS3Key each instance reads whole files, so"
            f" at most {train_files} can train"
        )
    return SHARDED if instance_count > 1 else REPLICATED


def transform_instances(requested: int, score_files: int) -> int:
    """Instances a batch transform can keep busy: one file goes to one instance."""
    return max(1, min(requested, score_files))
