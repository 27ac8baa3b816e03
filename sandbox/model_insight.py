"""What the report shows a data scientist about a trained model: read from the run's own artifacts.

The model is loaded by the xgboost the training job ran (the SageMaker emulator's
``.venv-xgboost-<version>``, the image's version): the same library reads its own format. It scores
the validation channel (label first, no header: the built-in algorithm's CSV) and reports the gain
importance. The curves are computed here, in plain Python.
"""

from __future__ import annotations

import io
import json
import re
import subprocess  # nosec B404: runs this repository's xgboost interpreter on a fixed script
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sandbox.sagemaker.runner import environment_python, xgboost_version

ROUND = re.compile(r"^\[(\d+)\]\s*(.*)$")
METRIC = re.compile(r"(train|validation)-([\w:@.-]+):(-?[0-9.eE+-]+)")

SCRIPT = """
import json, sys
import numpy as np
import xgboost as xgb
model_path, data_path = sys.argv[1], sys.argv[2]
booster = xgb.Booster()
booster.load_model(model_path)
data = np.loadtxt(data_path, delimiter=",", ndmin=2)
scores = booster.predict(xgb.DMatrix(data[:, 1:]))
print(json.dumps({"labels": data[:, 0].tolist(), "scores": scores.tolist(),
                  "gain": booster.get_score(importance_type="gain")}))
"""


@dataclass
class ModelInsight:
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (round, validation metric)
    metric_name: str | None = None
    labels: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    gain: dict[str, float] = field(default_factory=dict)  # feature -> gain
    problem: str | None = None


def validation_rounds(log: list[str]) -> tuple[str | None, list[tuple[int, float]]]:
    """The validation metric per boosting round from the algorithm's log lines."""
    name: str | None = None
    rounds: list[tuple[int, float]] = []
    for line in log:
        match = ROUND.match(line.strip())
        if not match:
            continue
        for channel, metric, value in METRIC.findall(match.group(2)):
            if channel == "validation":
                name = metric
                rounds.append((int(match.group(1)), float(value)))
                break
    return name, rounds


def roc_points(labels: list[float], scores: list[float]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    positives = sum(1 for label in labels if label >= 0.5)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return []
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: -pair[0])
    points = [(0.0, 0.0)]
    true_positive = false_positive = 0
    for index, (score, label) in enumerate(ranked):
        if label >= 0.5:
            true_positive += 1
        else:
            false_positive += 1
        if index == len(ranked) - 1 or ranked[index + 1][0] != score:
            points.append((false_positive / negatives, true_positive / positives))
    return points


def histogram(scores: list[float], bins: int = 10) -> list[int]:
    """Counts of scores in ``bins`` equal bins over [0, 1] (1.0 in the last), as ML_SCORE_DRIFT bins."""
    counts = [0] * bins
    for score in scores:
        counts[min(max(int(score * bins), 0), bins - 1)] += 1
    return counts


def _s3_object(s3: Any, uri: str) -> bytes:
    parsed = urlparse(uri)
    return bytes(s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read())


def _first_object(s3: Any, prefix_uri: str) -> bytes:
    parsed = urlparse(prefix_uri)
    listing = s3.list_objects_v2(Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/"))
    key = sorted(item["Key"] for item in listing.get("Contents", []))[0]
    return bytes(s3.get_object(Bucket=parsed.netloc, Key=key)["Body"].read())


def model_insight(s3: Any, training: dict[str, Any], validation_uri: str, log: list[str]) -> ModelInsight:
    """``training``: DescribeTrainingJob; never raises (a problem is reported on the page)."""
    insight = ModelInsight()
    insight.metric_name, insight.rounds = validation_rounds(log)
    try:
        version = xgboost_version(training["AlgorithmSpecification"]["TrainingImage"])
        archive = _s3_object(s3, training["ModelArtifacts"]["S3ModelArtifacts"])
        validation = _first_object(s3, validation_uri)
        with tempfile.TemporaryDirectory() as folder:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                member = tar.extractfile("xgboost-model")
                assert member is not None
                (Path(folder) / "xgboost-model").write_bytes(member.read())
            (Path(folder) / "validation.csv").write_bytes(validation)
            # fixed interpreter and script, paths written above
            done = subprocess.run(  # noqa: S603  # nosec B603
                [
                    str(environment_python(version)),
                    "-c",
                    SCRIPT,
                    f"{folder}/xgboost-model",
                    f"{folder}/validation.csv",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
        found = json.loads(done.stdout)
        insight.labels, insight.scores, insight.gain = found["labels"], found["scores"], found["gain"]
    except (OSError, KeyError, IndexError, ValueError, subprocess.SubprocessError, tarfile.TarError) as error:
        insight.problem = f"{type(error).__name__}: {error}"
    return insight
