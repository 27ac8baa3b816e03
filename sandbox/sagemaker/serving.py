"""The built-in XGBoost container's serving rules, for batch transform: model files, payloads, outputs.

aws/sagemaker-xgboost-container 1.7-1 ``algorithm_mode/serve.py`` and ``serve_utils.py`` (v3.0-5 and the
3.2-0 master are the same for everything here): which files of ``model.tar.gz`` are the model (an
ensemble of every file by default), how a libsvm payload becomes rows, and the selectable inference
output (``SAGEMAKER_INFERENCE_OUTPUT``) in each Accept type.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sandbox.sagemaker import content_types, recordio
from sandbox.sagemaker.recordio import SparseRows

MODEL_DIR = "/opt/ml/model"
# serve_utils.py is_ensemble_enabled (1.7-1 line 526, v3.0-5 the same, master line 551):
# SAGEMAKER_INFERENCE_ENSEMBLE defaults to "true" in every emulated image; serve.py line 135.
ENSEMBLE_BY_DEFAULT = {"1.7-1": True, "3.0-5": True, "3.2-0": True}
ENSEMBLE_VARIABLE = "SAGEMAKER_INFERENCE_ENSEMBLE"
OUTPUT_VARIABLE = "SAGEMAKER_INFERENCE_OUTPUT"

# serve_utils.py lines 59-89: the selectable keys and which objectives give them
PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES = (
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
)
RAW_SCORE, RAW_SCORES, PREDICTED_SCORE = "raw_score", "raw_scores", "predicted_score"
_CLASSIFIER_KEYS = [PREDICTED_LABEL, LABELS, RAW_SCORE, RAW_SCORES]
VALID_OBJECTIVES = {
    "reg:squarederror": [PREDICTED_SCORE],
    "reg:logistic": [PREDICTED_SCORE],
    "reg:gamma": [PREDICTED_SCORE],
    "reg:absoluteerror": [PREDICTED_SCORE],
    "reg:tweedie": [PREDICTED_SCORE],
    "binary:logistic": [PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES, RAW_SCORE, RAW_SCORES],
    "binary:logitraw": _CLASSIFIER_KEYS,
    "binary:hinge": _CLASSIFIER_KEYS,
    "multi:softmax": _CLASSIFIER_KEYS,
    "multi:softprob": [PREDICTED_LABEL, LABELS, PROBABILITY, PROBABILITIES, RAW_SCORE, RAW_SCORES],
}


class ServingError(Exception):
    """A request the container answers with an error (``status`` is its HTTP status)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"the model container answered {status}: {message}")


# ---- the model -------------------------------------------------------------------------------------


def model_files(artifact: bytes, ensemble: bool) -> list[tuple[str, bytes]]:
    """The files of ``model.tar.gz`` the container loads as the model (serve_utils.py lines 155-194).

    The files at the top of the model directory, dotfiles left out (with a warning); all of them with
    ``ensemble``, else the first ``os.listdir`` gives, an order the file system picks: the emulator
    refuses to guess among several.
    """
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
        members = sorted(
            (m for m in archive.getmembers() if m.isfile() and "/" not in m.name.removeprefix("./")),
            key=lambda m: m.name.removeprefix("./"),
        )
        loaded = [m for m in members if not m.name.removeprefix("./").startswith(".")]
        if not loaded:
            raise ServingError("500", "Unable to load model: list index out of range")
        if len(loaded) > 1 and not ensemble:
            names = ", ".join(m.name.removeprefix("./") for m in loaded)
            raise ServingError(
                "500",
                f"the model archive holds {len(loaded)} files ({names}) and {ENSEMBLE_VARIABLE} is not"
                " 'true': the container loads the first the file system lists, which the emulator does"
                " not guess (keep one model file, or let the ensemble load them all)",
            )
        files = []
        for member in loaded:
            extracted = archive.extractfile(member)
            if extracted is None:
                raise ServingError("500", f"Unable to load model: cannot read {member.name}")
            files.append((member.name.removeprefix("./"), extracted.read()))
        return files


# ---- payloads --------------------------------------------------------------------------------------


def libsvm_rows(payload: bytes) -> SparseRows:
    """serve_utils.py ``_get_sparse_matrix_from_libsvm`` (lines 94-115): every ``index:value`` item of
    each line (the label and weights left out), a row per line up to the last one holding an item."""
    rows: list[int] = []
    columns: list[str] = []
    values: list[str] = []
    text = payload.strip().decode("utf-8")
    for row, line in enumerate(text.split("\n")):
        for item in line.split(" "):
            if ":" in item:
                parts = item.split(":")
                rows.append(row)
                columns.append(parts[0])
                values.append(parts[1])
    try:
        if not rows:  # scipy's csr_matrix, inside the container's parsing
            raise ValueError("cannot infer dimensions from zero sized index arrays")
        return SparseRows(
            np.asarray(rows, dtype=np.int64),
            np.asarray(columns).astype(np.int64),
            np.asarray(values).astype(np.float64),
            None,
        )
    except ValueError as exc:
        raise ServingError(
            "415 Unsupported Media Type",
            "Loading libsvm data failed with Exception, please ensure data is in libsvm format:"
            f"\n {type(exc)}\n {exc}",
        ) from None


# ---- selectable inference output ------------------------------------------------------------------


def selected_keys(environment: Mapping[str, str]) -> list[str] | None:
    """serve_utils.py ``get_selected_output_keys`` (lines 244-254); None when the variable is not set."""
    value = environment.get(OUTPUT_VARIABLE)
    return None if value is None else value.replace(" ", "").lower().split(",")


def _labels(objective: str, raw: Any, num_class: str) -> Any:
    if "binary:" in objective:
        return [0, 1]
    if "multi:" in objective and num_class:
        return list(range(int(num_class)))
    return np.nan


def _predicted_label(objective: str, raw: Any, num_class: str) -> Any:
    if objective in ("binary:hinge", "multi:softmax"):
        return raw.item()
    if objective == "binary:logistic":
        return int(raw > 0.5)
    if objective == "binary:logitraw":
        return int(raw > 0)
    return np.argmax(raw).item() if objective == "multi:softprob" else np.nan


def _score(objective: str, raw: Any, num_class: str) -> Any:
    """``probability`` and ``raw_score``: the winning class's with multi:softprob."""
    return max(raw).item() if objective == "multi:softprob" else raw.item()


def _scores(objective: str, raw: Any, num_class: str) -> Any:
    """``probabilities`` and ``raw_scores``: every class's, or ``[1 - p, p]``."""
    if objective == "multi:softprob":
        return raw.tolist()
    one = raw.item()
    return [1.0 - one, one]


# serve_utils.py lines 257-369, for the objectives VALID_OBJECTIVES allows each key
_VALUES: dict[str, Callable[[str, Any, str], Any]] = {
    PREDICTED_LABEL: _predicted_label,
    LABELS: _labels,
    PROBABILITY: _score,
    PROBABILITIES: _scores,
    RAW_SCORE: _score,
    RAW_SCORES: _scores,
    PREDICTED_SCORE: lambda objective, raw, num_class: raw.item(),
}


def selected_predictions(
    predictions: npt.NDArray[np.float32], keys: Sequence[str], objective: str, num_class: str
) -> list[dict[str, Any]]:
    """serve_utils.py ``get_selected_predictions`` (lines 372-425)."""
    if objective not in VALID_OBJECTIVES:
        raise ServingError(
            "500", f"Objective `{objective}` unsupported for selectable inference predictions."
        )
    valid = [key for key in _VALUES if key in keys and key in VALID_OBJECTIVES[objective]]
    invalid = [key for key in dict.fromkeys(keys) if key not in VALID_OBJECTIVES[objective]]
    found = []
    for raw in predictions:
        output = {key: _VALUES[key](objective, raw, num_class) for key in valid}
        output.update(dict.fromkeys(invalid, np.nan))
        found.append(output)
    return found


def encode_selected(predictions: list[dict[str, Any]], keys: Sequence[str], accept: str) -> bytes:
    """serve_utils.py ``encode_selected_predictions`` (lines 485-508) for a batch transform request."""
    if accept == "application/json":
        return json.dumps({"predictions": predictions}).encode()
    if accept == "application/jsonlines":  # encoder.py json_to_jsonlines, lines 113-128
        return b"".join((json.dumps(entry) + "\n").encode() for entry in predictions)
    if accept == "application/x-recordio-protobuf":
        return recordio.label_records(predictions)
    # text/csv: a list is one quoted field (lines 428-455), and SAGEMAKER_BATCH adds the last newline
    lines = (
        ",".join(f'"{p[key]}"' if isinstance(p[key], list) else str(p[key]) for key in keys)
        for p in predictions
    )
    return ("\n".join(lines) + "\n").encode()


def parse_accept(value: str | None, environment: Mapping[str, str]) -> str:
    """serve.py ``_parse_accept``; ServingError 406 for an Accept the container does not encode."""
    try:
        return content_types.accept(value, environment)
    except ValueError as exc:
        raise ServingError("406 Not Acceptable", str(exc)) from None
