"""Batch transform of one object with a built-in XGBoost model, as SageMaker and the container do it.

Details: sandbox/sagemaker/README.md, "transform.py".
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sandbox.sagemaker import channel_data, content_types, csvio, recordio, serving
from sandbox.sagemaker.jsonpath_filter import FilterError, IndexFilter
from sandbox.sagemaker.recordio import SparseRows
from sandbox.sagemaker.runner import Worker, WorkerError, image_tag
from sandbox.sagemaker.serving import ServingError

MODEL_FILE = "xgboost-model"
_FIRST_TEXT = re.compile(rb"\S")
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
    content_type: str | None = "text/csv"  # TransformInput.ContentType: the request's Content-Type
    accept: str | None = "text/csv"  # TransformOutput.Accept
    split_records: bool = False  # SplitType RecordIO
    environment: tuple[tuple[str, str], ...] = ()  # the model's and the job's Environment
    ensemble: bool = True

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    @property
    def selected_keys(self) -> list[str] | None:
        return serving.selected_keys(self.env)


def with_environment(spec: TransformSpec, environment: Mapping[str, str], image: str) -> TransformSpec:
    """The spec with the container's environment: MAX_CONTENT_LENGTH, the ensemble switch (its default is
    the image's, serving.ENSEMBLE_BY_DEFAULT), SAGEMAKER_INFERENCE_OUTPUT and the default Accept.
    ValueError on a MAX_CONTENT_LENGTH that is not a number of bytes."""
    limit = environment.get("MAX_CONTENT_LENGTH")
    try:
        length = int(limit) if limit is not None else spec.max_content_length
    except ValueError:
        raise ValueError(f"MAX_CONTENT_LENGTH {limit!r} is not a number of bytes") from None
    default = "true" if serving.ENSEMBLE_BY_DEFAULT.get(image_tag(image), True) else "false"
    return dataclasses.replace(
        spec,
        max_content_length=length,
        environment=tuple(sorted(environment.items())),
        ensemble=environment.get(serving.ENSEMBLE_VARIABLE, default) == "true",
    )


@dataclass
class ObjectTimings:
    parse_seconds: float = 0.0
    compute_seconds: float = 0.0
    format_seconds: float = 0.0


def model_file(artifact: bytes) -> bytes:
    """The booster of a ``model.tar.gz`` holding one model file (serving.model_files without an ensemble)."""
    try:
        return serving.model_files(artifact, ensemble=False)[0][1]
    except ServingError as exc:
        raise TransformError(str(exc)) from None


@dataclass
class Scorer:
    """A model (one booster, or an ensemble) loaded in a worker of the image's xgboost, with what every
    object needs from it.

    Found once per job (features, values per record), not per object. Not shared between threads: a
    transform job scores its objects one after the other with its own Scorer (and worker).
    """

    worker: Worker
    num_features: int
    prediction_width: int
    objective: str = ""
    num_class: str = ""

    @classmethod
    def load(cls, worker: Worker, artifact: bytes, ensemble: bool = True) -> Scorer:
        try:
            files = serving.model_files(artifact, ensemble)
        except ServingError as exc:
            raise TransformError(str(exc)) from None
        folder = worker.path("model")
        os.makedirs(folder, exist_ok=True)
        paths = []
        for name, raw in files:
            paths.append(os.path.join(folder, name))
            with open(paths[-1], "wb") as handle:
                handle.write(raw)
        try:
            answer = worker.request("load", models=paths)
        except WorkerError as exc:
            message = exc.message.replace(folder, serving.MODEL_DIR)
            raise TransformError(f"the model container answered 500: {message}") from None
        return cls(
            worker,
            int(answer["num_features"]),
            int(answer["width"]),
            str(answer["objective"]),
            str(answer["num_class"]),
        )

    def predict(
        self, matrix: csvio.FloatMatrix | SparseRows, nthread: int, kind: str = content_types.CSV
    ) -> tuple[npt.NDArray[np.float32], float]:
        """Predictions and the seconds xgboost spent."""
        target = self.worker.path("predictions.npy")
        request: dict[str, object] = {"out": target, "nthread": nthread, "kind": kind}
        if isinstance(matrix, SparseRows):
            parts = {}
            for part in ("rows", "columns", "values"):
                parts[part] = self.worker.path(f"matrix-{part}.npy")
                np.save(parts[part], getattr(matrix, part))
            request["coo"] = {**parts, "shape": list(matrix.shape) if matrix.shape else None}
        else:
            request["matrix"] = self.worker.path("matrix.npy")
            np.save(str(request["matrix"]), matrix)
        try:
            answer = self.worker.request("predict", **request)
        except WorkerError as exc:
            raise TransformError(
                f"prediction failed: Unable to evaluate payload provided: {exc.message}"
            ) from None
        predictions: npt.NDArray[np.float32] = np.load(target)
        return predictions, float(answer["compute_seconds"])


@dataclass
class ParsedObject:
    """One object's records, parsed and filtered, waiting for their predictions (``table``: the CSV
    fields an output joined to the input keeps)."""

    table: pa.Table | None
    matrix: csvio.FloatMatrix | SparseRows
    width: int
    selected: list[int]
    kind: str = content_types.CSV
    rows: int = 0


def _check_sizes(data: bytes, spec: TransformSpec) -> None:
    """MaxPayloadInMB per record (a line, a RecordIO record, or the object) and MAX_CONTENT_LENGTH."""
    record_size = len(data)
    if spec.split_records:
        try:
            record_size = max(recordio.record_sizes(data), default=0)
        except recordio.RecordIOError:
            record_size = len(data)
    elif spec.split_lines and record_size > spec.max_payload_bytes:
        fits = csvio.lines_fit(data, spec.max_payload_bytes)
        record_size = csvio.longest_line(data) if not fits else 0  # the exact size only to report it
    if record_size > spec.max_payload_bytes:
        raise TransformError(
            f"a record of {record_size} bytes exceeds MaxPayloadInMB ({spec.max_payload_bytes >> 20} MB)"
        )
    # One request carries the whole object (SplitType None) or a mini-batch of up to MaxPayloadInMB.
    split = spec.split_lines or spec.split_records
    request_size = min(len(data), spec.max_payload_bytes) if split else len(data)
    if request_size > spec.max_content_length:
        raise TransformError(
            f"the model container answered 413 Request Entity Too Large: a request of up to {request_size} "
            f"bytes exceeds its MAX_CONTENT_LENGTH ({spec.max_content_length} bytes; raise it in the "
            "Environment, or lower MaxPayloadInMB)"
        )


def _unsupported(status: str, message: str) -> TransformError:
    return TransformError(f"the model container answered {status}: {message}")


def csv_delimiter(data: bytes) -> str:
    """encoder.py ``csv_to_dmatrix`` (lines 50-53): sniffed from the first line's first 512 characters,
    ``,`` when the Sniffer picks a letter or digit."""
    first = _FIRST_TEXT.search(data)  # the payload's strip(), without copying a large object
    start = first.start() if first else len(data)
    end = data.find(b"\n", start)
    segment = data[start:end] if end >= 0 else data[start:].rstrip()
    line = segment.decode("utf-8", errors="replace")[:512]
    try:
        sniffed = channel_data.sniff_delimiter(line)
    except Exception as exc:
        raise _unsupported(
            "415 Unsupported Media Type",
            "Loading csv data failed with Exception, please ensure data is in csv format:\n"
            f" {type(exc)}\n {exc}",
        ) from None
    return "," if sniffed.isalnum() else sniffed


def parse_object(data: bytes, spec: TransformSpec) -> ParsedObject | None:
    """The object's records as the container reads them (None: no records); raises TransformError."""
    if not data or data.isspace():
        return None  # serve.py lines 210-211: an empty request gets 204 and no predictions
    try:
        kind = content_types.kind(spec.content_type)
    except content_types.ContentTypeError as exc:
        raise _unsupported("415 Unsupported Media Type", str(exc)) from None
    if kind == content_types.CSV:
        return _parse_csv(data, spec)
    if kind not in (content_types.LIBSVM, content_types.RECORDIO_PROTOBUF):
        # serve_utils.py line 150: parquet is a training format only
        raise _unsupported(
            "415 Unsupported Media Type", f"Content-type {spec.content_type} is not supported."
        )
    if spec.join_input or not spec.input_filter.is_identity:
        raise TransformError(f"EmulatorError: InputFilter and JoinSource on {kind} input are not emulated")
    _check_sizes(data, spec)
    matrix: csvio.FloatMatrix | SparseRows
    if kind == content_types.LIBSVM:
        try:
            matrix = serving.libsvm_rows(data)
        except ServingError as exc:
            raise TransformError(str(exc)) from None
        rows = int(matrix.rows.max()) + 1 if matrix.size else 0
    else:
        try:
            read = recordio.read(data, with_labels=False)
        except recordio.RecordIOError as exc:
            raise _unsupported(
                "415 Unsupported Media Type",
                "Loading recordio-protobuf data failed with Exception, please ensure data is in "
                f"recordio-protobuf format: {type(exc)} {exc}",
            ) from None
        matrix = read.matrix
        rows = read.shape[0]
    try:
        selected = spec.output_filter.resolve(1)
    except FilterError as exc:
        raise TransformError(str(exc)) from None
    return ParsedObject(None, matrix, 0, selected, kind, rows)


def _parse_csv(data: bytes, spec: TransformSpec) -> ParsedObject | None:
    delimiter = csv_delimiter(data)
    width = csvio.count_fields(data, delimiter)
    if width == 0:
        return None
    _check_sizes(data, spec)
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
        table = csvio.read_columns(data, width, types, delimiter)
        matrix = csvio.to_matrix([table.column(csvio.column_name(i)) for i in features])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TransformError(f"cannot parse the records as numeric CSV: {exc}") from None
    return ParsedObject(table, matrix, width, list(selected), content_types.CSV, len(matrix))


def _selectable(
    parsed: ParsedObject,
    predictions: npt.NDArray[np.float32],
    spec: TransformSpec,
    keys: list[str],
    scorer: Scorer,
) -> bytes:
    """serve.py ``_handle_selectable_inference_response`` (lines 182-204)."""
    if spec.join_input or not spec.output_filter.is_identity:
        raise TransformError(
            "EmulatorError: JoinSource and OutputFilter with SAGEMAKER_INFERENCE_OUTPUT are not emulated"
        )
    try:
        accept = serving.parse_accept(spec.accept, spec.env)
        chosen = serving.selected_predictions(predictions, keys, scorer.objective, scorer.num_class)
        return serving.encode_selected(chosen, keys, accept)
    except ServingError as exc:
        raise TransformError(str(exc)) from None


def render_object(
    parsed: ParsedObject,
    predictions: npt.NDArray[np.float32],
    spec: TransformSpec,
    scorer: Scorer | None = None,
) -> bytes:
    """The ``.out`` content: the selected input fields and predictions, one line per record."""
    try:
        serving.parse_accept(spec.accept, spec.env)  # serve.py lines 231-235, after predicting
    except ServingError as exc:
        raise TransformError(str(exc)) from None
    keys = spec.selected_keys
    if keys is not None and scorer is not None:
        return _selectable(parsed, predictions, spec, keys, scorer)
    columns = predictions.reshape(parsed.rows, -1)
    rendered: dict[int, pa.Array] = {}
    output: list[pa.Array | pa.ChunkedArray] = []
    for index in parsed.selected:
        if spec.join_input and index < parsed.width:
            assert parsed.table is not None
            output.append(parsed.table.column(csvio.column_name(index)))
            continue
        position = index - parsed.width if spec.join_input else index
        if position not in rendered:
            rendered[position] = (
                csvio.format_floats(columns[:, 0]) if columns.shape[1] == 1 else csvio.format_lists(columns)
            )
        output.append(rendered[position])
    return csvio.join_lines(output)


def _threads(matrix: csvio.FloatMatrix | SparseRows, cpu_count: int) -> int:
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
    predictions, compute = scorer.predict(parsed.matrix, _threads(parsed.matrix, cpu_count), parsed.kind)
    predicted = time.perf_counter()
    content = render_object(parsed, predictions, spec, scorer)
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
    widths = {
        found.matrix.shape[1] if isinstance(found.matrix, np.ndarray) else -1 for found in parsed.values()
    }
    if len(widths) > 1 or -1 in widths:
        timings.parse_seconds += time.perf_counter() - started
        for index in parsed:
            results[index] = _transform_alone(scorer, objects[index], spec, timings, cpu_count)
        return results
    matrix = np.concatenate(
        [found.matrix for found in parsed.values() if isinstance(found.matrix, np.ndarray)]
    )
    parsed_at = time.perf_counter()
    try:
        kind = next(iter(parsed.values())).kind
        predictions, compute = scorer.predict(matrix, _threads(matrix, cpu_count), kind)
    except TransformError:
        timings.parse_seconds += parsed_at - started
        for index in parsed:
            results[index] = _transform_alone(scorer, objects[index], spec, timings, cpu_count)
        return results
    predicted = time.perf_counter()
    per_row = predictions.reshape(len(matrix), -1)
    offset = 0
    for index, found in parsed.items():
        try:
            results[index] = render_object(found, per_row[offset : offset + found.rows], spec, scorer)
        except TransformError as exc:
            results[index] = exc
        offset += found.rows
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
