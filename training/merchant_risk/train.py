"""merchant_risk's own training script (script mode): XGBoost with class weights computed from the data.

The built-in algorithm weighs every row the same unless the export carries a weight column
(csv_weights); this script weighs each class by how rare it is in THIS export (sklearn's "balanced":
rows / (classes x rows of the class)), so the weights follow the data from one export to the next.

It runs under the SageMaker training toolkit (docs/contracts.md, "Your own training script"):
hyperparameters arrive as ``--name value`` arguments, the channels in SM_CHANNEL_TRAIN and
SM_CHANNEL_VALIDATION (CSV, label first, no header), and the model goes to SM_MODEL_DIR as
``xgboost-model``, the file the container's default inference loads, so the pipeline's batch transform
scores it like a built-in model. Each round logs ``[i]\ttrain-<metric>:<v>\tvalidation-<metric>:<v>``,
the format the plan's MetricDefinitions read (the gate's metric: validation-auc for this dataset).
Only numpy and xgboost: both are in the XGBoost framework container.

It trains on one instance: on several (SM_HOSTS), each host would hold only its share of the export
and the hosts would have to join one cluster to train one model, so it stops with an error saying so.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Any

import numpy as np
import xgboost as xgb

# Hyperparameters that are not xgboost booster parameters.
TRAINING_KEYS = ("num_round", "early_stopping_rounds")


def read_channel(folder: str) -> tuple[Any, Any]:
    files = sorted(glob.glob(os.path.join(folder, "**", "*"), recursive=True))
    parts = [np.loadtxt(path, delimiter=",", ndmin=2) for path in files if os.path.isfile(path)]
    if not parts:
        raise ValueError(f"no data files in {folder}")
    data = np.vstack(parts)
    return data[:, 1:], data[:, 0]


def balanced_weights(labels: Any) -> Any:
    classes, counts = np.unique(labels, return_counts=True)
    per_class = {c: len(labels) / (len(classes) * n) for c, n in zip(classes, counts, strict=True)}
    print(f"class weights from the data: { {float(c): round(w, 4) for c, w in per_class.items()} }")
    return np.array([per_class[label] for label in labels])


def parse(argv: list[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int, default=100)
    parser.add_argument("--early_stopping_rounds", type=int, default=None)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    known, rest = parser.parse_known_args(argv)
    # Every other --name value pair is a booster parameter (objective, eval_metric, eta, max_depth, ...).
    params = {rest[i].lstrip("-"): rest[i + 1] for i in range(0, len(rest) - 1, 2)}
    return known, params


def single_host() -> None:
    hosts = json.loads(os.environ.get("SM_HOSTS") or "[]")
    if len(hosts) > 1:
        raise SystemExit(
            f"train.py trains on one instance, not {len(hosts)} ({', '.join(hosts)}): set the dataset's"
            " TRAINING_INSTANCE_COUNT to 1 (each host reads only its share of the export)"
        )


def main(argv: list[str]) -> None:
    single_host()
    args, params = parse(argv)
    features, labels = read_channel(args.train)
    train = xgb.DMatrix(features, label=labels, weight=balanced_weights(labels))
    evals = [(train, "train")]
    if args.validation:
        v_features, v_labels = read_channel(args.validation)
        evals.append((xgb.DMatrix(v_features, label=v_labels), "validation"))
    history: dict[str, Any] = {}
    booster = xgb.train(
        params,
        train,
        num_boost_round=args.num_round,
        evals=evals,
        evals_result=history,
        early_stopping_rounds=args.early_stopping_rounds if len(evals) > 1 else None,
        verbose_eval=False,
    )
    series = [
        (f"{data}-{metric}", values)
        for data, metrics in history.items()
        for metric, values in metrics.items()
    ]
    for epoch in range(len(series[0][1])):
        print("\t".join([f"[{epoch}]", *(f"{name}:{values[epoch]:.5f}" for name, values in series)]))
    os.makedirs(args.model_dir, exist_ok=True)
    booster.save_model(os.path.join(args.model_dir, "xgboost-model"))


if __name__ == "__main__":
    main(sys.argv[1:])
