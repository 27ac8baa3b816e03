"""Batch transform of one CSV object with a built-in XGBoost model, as SageMaker does it.

Per object: parse the rows (SplitType Line), apply InputFilter, predict, optionally join the
prediction to the UNFILTERED input row (JoinSource Input), apply OutputFilter, and return the
``.out`` bytes: one line per record, ``str(float)`` predictions, trailing newline, input fields kept
as their original text.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import xgboost as xgb

from sandbox.sagemaker import csvio
from sandbox.sagemaker.jsonpath_filter import FilterError, IndexFilter

MODEL_FILE = "xgboost-model"
SMALL_DATA_CELLS = 100_000


class TransformError(Exception):
    """A record-level failure of one object (the object gets no .out, the job fails)."""


@dataclass(frozen=True)
class TransformSpec:
    input_filter: IndexFilter
    output_filter: IndexFilter
    join_input: bool
    split_lines: bool
    max_payload_bytes: int


@dataclass
class ObjectTimings:
    parse_seconds: float = 0.0
    compute_seconds: float = 0.0
    format_seconds: float = 0.0


def load_model(artifact: bytes) -> xgb.Booster:
    """Load the booster from a ``model.tar.gz`` holding ``xgboost-model`` (xgboost JSON or UBJSON)."""
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        chosen = next((m for m in members if m.name.lstrip("./") == MODEL_FILE), None)
        if chosen is None and len(members) == 1:
            chosen = members[0]
        if chosen is None:
            raise TransformError(f"the model archive has no {MODEL_FILE} file")
        extracted = archive.extractfile(chosen)
        if extracted is None:
            raise TransformError(f"cannot read {chosen.name} from the model archive")
        raw = extracted.read()
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as exc:
        raise TransformError(f"cannot load the model: {str(exc).splitlines()[0]}") from None
    return booster


def prediction_width(booster: xgb.Booster) -> int:
    """How many values the model predicts per record (1, or the class count for multi:softprob)."""
    booster.set_param({"nthread": 1})
    probe = np.full((1, booster.num_features()), np.nan, dtype=np.float32)
    result = booster.inplace_predict(probe)
    return 1 if result.ndim == 1 else int(result.shape[1])


@dataclass
class Scorer:
    """A loaded booster with what every object needs from it, found once per job, not per object.

    ``prediction_width`` probes the model with one prediction and ``num_features`` asks xgboost: both
    are cached here, and ``predict`` sets the booster's nthread only when it changes (each
    ``set_param`` makes xgboost reconfigure the learner before the next prediction). Not shared
    between threads: a transform job scores its objects one after the other with its own Scorer.
    """

    booster: xgb.Booster
    num_features: int
    prediction_width: int
    nthread: int

    @classmethod
    def of(cls, booster: xgb.Booster) -> Scorer:
        width = prediction_width(booster)  # leaves nthread at 1
        return cls(booster, booster.num_features(), width, 1)

    def predict(self, matrix: csvio.FloatMatrix, nthread: int) -> npt.NDArray[np.float32]:
        if nthread != self.nthread:
            self.booster.set_param({"nthread": nthread})
            self.nthread = nthread
        result: npt.NDArray[np.float32] = self.booster.inplace_predict(matrix)
        return result


def transform_object(
    model: Scorer | xgb.Booster,
    data: bytes,
    spec: TransformSpec,
    timings: ObjectTimings,
    *,
    cpu_count: int,
) -> bytes:
    """The ``.out`` content for one input object; raises TransformError when a record fails.

    Predicts with ``cpu_count`` threads (one for tiny inputs, where threads only add overhead).
    Give a job's objects one ``Scorer`` (a bare Booster is probed again on every call).
    """
    started = time.perf_counter()
    width = csvio.count_fields(data)
    if width == 0:
        return b""
    record_size = len(data)
    if spec.split_lines and record_size > spec.max_payload_bytes:
        fits = csvio.lines_fit(data, spec.max_payload_bytes)
        record_size = csvio.longest_line(data) if not fits else 0  # the exact size only to report it
    if record_size > spec.max_payload_bytes:
        raise TransformError(
            f"a record of {record_size} bytes exceeds MaxPayloadInMB ({spec.max_payload_bytes >> 20} MB)"
        )
    scorer = model if isinstance(model, Scorer) else Scorer.of(model)
    n_predictions = scorer.prediction_width
    try:
        features = spec.input_filter.resolve(width)
        output_width = width + n_predictions if spec.join_input else n_predictions
        selected = spec.output_filter.resolve(output_width)
    except FilterError as exc:
        raise TransformError(str(exc)) from None
    expected = scorer.num_features
    if len(features) != expected:
        raise TransformError(
            f"the model expects {expected} features but the record has {len(features)} "
            f"after InputFilter {spec.input_filter.expression!r} ({width} fields)"
        )
    text_columns = {i for i in selected if i < width} if spec.join_input else set()
    types: dict[int, pa.DataType] = dict.fromkeys(features, pa.float32())
    types.update(dict.fromkeys(text_columns, pa.string()))
    try:
        table = csvio.read_columns(data, width, types)
        matrix = csvio.to_matrix([table.column(csvio.column_name(i)) for i in features])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TransformError(f"cannot parse the records as numeric CSV: {exc}") from None
    parsed = time.perf_counter()
    try:
        predictions = scorer.predict(matrix, 1 if matrix.size < SMALL_DATA_CELLS else cpu_count)
    except xgb.core.XGBoostError as exc:
        raise TransformError(f"prediction failed: {str(exc).splitlines()[0]}") from None
    predicted = time.perf_counter()
    columns = predictions.reshape(len(matrix), -1)
    rendered: dict[int, pa.Array] = {}
    output: list[pa.Array | pa.ChunkedArray] = []
    for index in selected:
        if spec.join_input and index < width:
            output.append(table.column(csvio.column_name(index)))
            continue
        position = index - width if spec.join_input else index
        if position not in rendered:
            rendered[position] = csvio.format_floats(columns[:, position])
        output.append(rendered[position])
    content = csvio.join_lines(output)
    timings.parse_seconds += parsed - started
    timings.compute_seconds += predicted - parsed
    timings.format_seconds += time.perf_counter() - predicted
    return content
