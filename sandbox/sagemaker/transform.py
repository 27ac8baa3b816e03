"""Batch transform of one CSV object with a built-in XGBoost model, as SageMaker does it.

Per object: parse the rows (SplitType Line), apply InputFilter, predict, optionally join the
prediction to the UNFILTERED input row (JoinSource Input), apply OutputFilter, and return the
``.out`` bytes: one line per record, ``str(float)`` predictions, trailing newline, input fields kept
as their original text. A model predicting several values per record (multi:softprob) writes them as
one field ``[p0, p1, p2]``: the container's batch output is ``"\\n".join(map(str, preds.tolist()))``
(algorithm_mode/serve.py line 242).

Prediction runs in the image's xgboost (``worker.py``): the model is read by the version that wrote
it, and the record's features go to xgboost as they are (serve_utils.py ``predict``,
``validate_features=False``): fewer features than the model predict (the rest missing), more fail.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sandbox.sagemaker import csvio
from sandbox.sagemaker.jsonpath_filter import FilterError, IndexFilter
from sandbox.sagemaker.runner import Worker, WorkerError

MODEL_FILE = "xgboost-model"
SMALL_DATA_CELLS = 100_000
# algorithm_mode/serve.py line 35: the model server refuses a request body larger than this (HTTP 413).
DEFAULT_MAX_CONTENT_LENGTH = 6 * 1024 * 1024


class TransformError(Exception):
    """A record-level failure of one object (the object gets no .out, the job fails)."""


@dataclass(frozen=True)
class TransformSpec:
    input_filter: IndexFilter
    output_filter: IndexFilter
    join_input: bool
    split_lines: bool
    max_payload_bytes: int
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH


@dataclass
class ObjectTimings:
    parse_seconds: float = 0.0
    compute_seconds: float = 0.0
    format_seconds: float = 0.0


def model_file(artifact: bytes) -> bytes:
    """The ``xgboost-model`` file of a ``model.tar.gz`` (or its only file)."""
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
        return extracted.read()


@dataclass
class Scorer:
    """A model loaded in a worker of the image's xgboost, with what every object needs from it.

    Found once per job (features, values per record), not per object. Not shared between threads: a
    transform job scores its objects one after the other with its own Scorer (and worker).
    """

    worker: Worker
    num_features: int
    prediction_width: int

    @classmethod
    def load(cls, worker: Worker, artifact: bytes) -> Scorer:
        path = worker.path(MODEL_FILE)
        with open(path, "wb") as handle:
            handle.write(model_file(artifact))
        try:
            answer = worker.request("load", model=path)
        except WorkerError as exc:
            raise TransformError(f"cannot load the model: {exc.message}") from None
        return cls(worker, int(answer["num_features"]), int(answer["width"]))

    def predict(self, matrix: csvio.FloatMatrix, nthread: int) -> tuple[npt.NDArray[np.float32], float]:
        """Predictions and the seconds xgboost spent."""
        source, target = self.worker.path("matrix.npy"), self.worker.path("predictions.npy")
        np.save(source, matrix)
        try:
            answer = self.worker.request("predict", matrix=source, out=target, nthread=nthread)
        except WorkerError as exc:
            raise TransformError(f"prediction failed: {exc.message}") from None
        predictions: npt.NDArray[np.float32] = np.load(target)
        return predictions, float(answer["compute_seconds"])


def transform_object(
    scorer: Scorer,
    data: bytes,
    spec: TransformSpec,
    timings: ObjectTimings,
    *,
    cpu_count: int,
) -> bytes:
    """The ``.out`` content for one input object; raises TransformError when a record fails.

    Predicts with ``cpu_count`` threads (one for tiny inputs, where threads only add overhead).
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
    # One request carries the whole object (SplitType None) or a mini-batch of up to MaxPayloadInMB.
    request_size = min(len(data), spec.max_payload_bytes) if spec.split_lines else len(data)
    if request_size > spec.max_content_length:
        raise TransformError(
            f"the model container answered 413 Request Entity Too Large: a request of up to {request_size} "
            f"bytes exceeds its MAX_CONTENT_LENGTH ({spec.max_content_length} bytes; raise it in the "
            "Environment, or lower MaxPayloadInMB)"
        )
    n_predictions = 1  # several values per record are written as one field: [p0, p1, p2]
    try:
        features = spec.input_filter.resolve(width)
        output_width = width + n_predictions if spec.join_input else n_predictions
        selected = spec.output_filter.resolve(output_width)
    except FilterError as exc:
        raise TransformError(str(exc)) from None
    text_columns = {i for i in selected if i < width} if spec.join_input else set()
    types: dict[int, pa.DataType] = dict.fromkeys(features, pa.float32())
    types.update(dict.fromkeys(text_columns, pa.string()))
    try:
        table = csvio.read_columns(data, width, types)
        matrix = csvio.to_matrix([table.column(csvio.column_name(i)) for i in features])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TransformError(f"cannot parse the records as numeric CSV: {exc}") from None
    parsed = time.perf_counter()
    predictions, compute = scorer.predict(matrix, 1 if matrix.size < SMALL_DATA_CELLS else cpu_count)
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
            rendered[position] = (
                csvio.format_floats(columns[:, 0]) if columns.shape[1] == 1 else csvio.format_lists(columns)
            )
        output.append(rendered[position])
    content = csvio.join_lines(output)
    timings.parse_seconds += parsed - started + (predicted - parsed - compute)
    timings.compute_seconds += compute
    timings.format_seconds += time.perf_counter() - predicted
    return content
