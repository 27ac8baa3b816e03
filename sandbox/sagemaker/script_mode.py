"""Script mode: what decides it and what SageMaker (not the container) reads from the job's log.

Details: sandbox/sagemaker/README.md, "script_mode.py".
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
