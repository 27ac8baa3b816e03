"""Script mode: what decides it and what SageMaker (not the container) reads from the job's log.

The XGBoost image runs the user's program instead of the algorithm when the ``sagemaker_program``
hyperparameter is set (sagemaker-xgboost-container ``training.py``: ``user_entry_point``). The program
then runs through the SageMaker training toolkit (``sagemaker-training``, installed in the image's
environment): it decodes the hyperparameters, downloads and unpacks ``sagemaker_submit_directory``,
installs ``requirements.txt``, sets the ``SM_*`` variables, runs the entry point and writes the
failure file. The emulator only starts the toolkit's ``train`` in the host's namespace
(``container.py``) and reads the job's metrics from its log with the job's MetricDefinitions, keeping
the last value each regex matched (docs: sagemaker/latest/dg/training-metrics.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

USER_PROGRAM = "sagemaker_program"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
# The image's entry point (docs: your-algorithms-training-algo-dockerfile, "SageMaker runs the
# container as `docker run image train`"); in the image it is the toolkit's console script.
TRAIN_COMMAND = "train"


def is_script_mode(hyperparameters: Mapping[str, str]) -> bool:
    return USER_PROGRAM in hyperparameters


def final_metrics(log: Sequence[str], definitions: Sequence[Mapping[str, str]]) -> list[tuple[str, float]]:
    """Each definition's LAST match in the log (its first group as a float), in definition order."""
    found: list[tuple[str, float]] = []
    for definition in definitions:
        pattern = re.compile(definition["Regex"])
        value: float | None = None
        for line in log:
            for match in pattern.finditer(line):
                try:
                    value = float(match.group(1))
                except (IndexError, ValueError):
                    continue
        if value is not None:
            found.append((definition["Name"], value))
    return found
