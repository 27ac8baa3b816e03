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
    """The one file of a ``model.tar.gz``: the booster the container's default inference loads.

    An archive of several files is refused. Which of them the container loads is not one answer:
    aws/sagemaker-xgboost-container's ``serve_utils.get_loaded_booster`` loads the first file
    ``os.listdir`` returns (an order the file system picks) in older images, and every file as an
    ensemble (failing on any that is not a model) in newer ones. A model directory that holds only
    the booster is read the same way by every image, so that is what the emulator accepts (a
    training script on several instances: only one host saves the model; docs/contracts.md).
    """
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        if len(members) != 1:
            names = ", ".join(sorted(m.name.lstrip("./") for m in members)) or "none"
            raise TransformError(
                f"the model archive holds {len(members)} files ({names}); the XGBoost container's"
                f" default inference needs exactly one, the booster ({MODEL_FILE}): which file it loads"
                " from several differs by image version (the first listed, or all as an ensemble)"
            )
        chosen = members[0]
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


@dataclass
class ParsedObject:
    """One object's records, parsed and filtered, waiting for their predictions."""

    table: pa.Table
    matrix: csvio.FloatMatrix
    width: int
    selected: list[int]


def parse_object(data: bytes, spec: TransformSpec) -> ParsedObject | None:
    """The object's records as the container reads them (None: no records); raises TransformError."""
    width = csvio.count_fields(data)
    if width == 0:
        return None
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
    return ParsedObject(table, matrix, width, list(selected))


def render_object(parsed: ParsedObject, predictions: npt.NDArray[np.float32], spec: TransformSpec) -> bytes:
    """The ``.out`` content: the selected input fields and predictions, one line per record."""
    columns = predictions.reshape(len(parsed.matrix), -1)
    rendered: dict[int, pa.Array] = {}
    output: list[pa.Array | pa.ChunkedArray] = []
    for index in parsed.selected:
        if spec.join_input and index < parsed.width:
            output.append(parsed.table.column(csvio.column_name(index)))
            continue
        position = index - parsed.width if spec.join_input else index
        if position not in rendered:
            rendered[position] = (
                csvio.format_floats(columns[:, 0]) if columns.shape[1] == 1 else csvio.format_lists(columns)
            )
        output.append(rendered[position])
    return csvio.join_lines(output)


def _threads(matrix: csvio.FloatMatrix, cpu_count: int) -> int:
    return 1 if matrix.size < SMALL_DATA_CELLS else cpu_count


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
    parsed = parse_object(data, spec)
    if parsed is None:
        return b""
    parsed_at = time.perf_counter()
    predictions, compute = scorer.predict(parsed.matrix, _threads(parsed.matrix, cpu_count))
    predicted = time.perf_counter()
    content = render_object(parsed, predictions, spec)
    timings.parse_seconds += parsed_at - started + (predicted - parsed_at - compute)
    timings.compute_seconds += compute
    timings.format_seconds += time.perf_counter() - predicted
    return content


def transform_objects(
    scorer: Scorer,
    objects: list[bytes],
    spec: TransformSpec,
    timings: ObjectTimings,
    *,
    cpu_count: int,
) -> list[bytes | TransformError]:
    """Each object's ``.out`` content (or its error), as ``transform_object`` gives it, for many small
    objects at once: their records go to the emulator's xgboost worker in one request.

    The container still sees each object on its own: each is parsed, filtered, checked against
    MaxPayloadInMB and MAX_CONTENT_LENGTH and written as its own ``.out``. Only the emulator's
    process hop is shared (xgboost predicts each row the same in any batch), so 100,000 objects of a
    row each do not cost 100,000 round trips to the worker. Objects whose feature count differs
    from the first are predicted alone, so that a failure names its object.
    """
    started = time.perf_counter()
    results: list[bytes | TransformError] = [b""] * len(objects)
    parsed: dict[int, ParsedObject] = {}
    for index, data in enumerate(objects):
        try:
            found = parse_object(data, spec)
        except TransformError as exc:
            results[index] = exc
            continue
        if found is not None:
            parsed[index] = found
    if not parsed:
        timings.parse_seconds += time.perf_counter() - started
        return results
    widths = {found.matrix.shape[1] for found in parsed.values()}
    if len(widths) > 1:
        timings.parse_seconds += time.perf_counter() - started
        for index in parsed:
            results[index] = _transform_alone(scorer, objects[index], spec, timings, cpu_count)
        return results
    matrix = np.concatenate([found.matrix for found in parsed.values()])
    parsed_at = time.perf_counter()
    try:
        predictions, compute = scorer.predict(matrix, _threads(matrix, cpu_count))
    except TransformError:
        timings.parse_seconds += parsed_at - started
        for index in parsed:
            results[index] = _transform_alone(scorer, objects[index], spec, timings, cpu_count)
        return results
    predicted = time.perf_counter()
    per_row = predictions.reshape(len(matrix), -1)
    offset = 0
    for index, found in parsed.items():
        rows = len(found.matrix)
        results[index] = render_object(found, per_row[offset : offset + rows], spec)
        offset += rows
    timings.parse_seconds += parsed_at - started + (predicted - parsed_at - compute)
    timings.compute_seconds += compute
    timings.format_seconds += time.perf_counter() - predicted
    return results


def _transform_alone(
    scorer: Scorer, data: bytes, spec: TransformSpec, timings: ObjectTimings, cpu_count: int
) -> bytes | TransformError:
    try:
        return transform_object(scorer, data, spec, timings, cpu_count=cpu_count)
    except TransformError as exc:
        return exc
