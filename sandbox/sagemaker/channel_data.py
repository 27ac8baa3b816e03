"""What the built-in XGBoost container reads from its train and validation channels, and how.

Details: sandbox/sagemaker/README.md, "channel_data.py".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.sagemaker import content_types, csvio, recordio
from sandbox.sagemaker.errors import JobFailure, container_failure
from sandbox.sagemaker.runner import Worker

CHANNEL_ROOT = "/opt/ml/input/data"  # the channel folders (SM_CHANNEL_<NAME>)
MAX_FOLDER_DEPTH = 3  # xgb/data_utils.py line 41: the channel folder counts as the first
HIDDEN_FILE = "Hidden file found in the data path! Remove that before training."  # xgb/data_utils.py:675
_CHANNEL_WORDS = {"train": "training", "validation": "validation"}  # train.py lines 247, 252


def user_error(message: str) -> JobFailure:
    return container_failure("UserError", message)


# ---- the files of a channel, as SageMaker lays them out --------------------------------------------


@dataclass(frozen=True)
class ChannelFile:
    """One object of a channel: its S3 URI, its path below ``/opt/ml/input/data/<channel>/`` and the
    file the job's layout holds it in."""

    uri: str
    path: str
    local: Path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    @property
    def depth(self) -> int:
        """Folders from the channel folder (1) down to the file's."""
        return self.path.count("/") + 1

    @property
    def size(self) -> int:
        return self.local.stat().st_size


def _first_leaf_folder(files: Sequence[ChannelFile]) -> str:
    """``os.walk``'s first folder without subfolders (validate_data_file_path, lines 273-277)."""
    folders = {f.folder for f in files}
    current = ""
    while True:
        below = sorted(
            {
                folder[len(current) :].lstrip("/").split("/", 1)[0]
                for folder in folders
                if folder != current and (not current or folder.startswith(current + "/"))
            }
        )
        if not below:
            return current
        current = f"{current}/{below[0]}" if current else below[0]


def _is_data_file(name: str) -> bool:
    """xgb/data_utils.py ``_is_data_file`` (lines 125-144): no ``.``/``_`` prefix, no xgboost cache file."""
    if name.startswith((".", "_")):
        return False
    return not (".cache" in name and ("dtrain" in name or "dval" in name))


# ---- CSV delimiters ----------------------------------------------------------------------------------


def first_line(data: bytes) -> str:
    """``readline()`` of the file opened as text (``errors="ignore"``): its first line and line ending."""
    ends = [found for found in (data.find(b"\n"), data.find(b"\r")) if found >= 0]
    if not ends:
        return data.decode("utf-8", errors="ignore")
    return data[: min(ends)].decode("utf-8", errors="ignore") + "\n"


def sniff_delimiter(line: str) -> str:
    """``csv.Sniffer().sniff(line).delimiter``; csv.Error when it finds none.

    On one line without quotes the Sniffer returns the first of its preferred delimiters present
    (``,``, tab, ``;``): that answer is given without the Sniffer's per-character frequency tables,
    which cost milliseconds a line.
    """
    if '"' not in line and "'" not in line:
        for candidate in (",", "\t", ";"):
            if candidate in line:
                return candidate
    return csv.Sniffer().sniff(line).delimiter


def training_delimiter(line: str) -> str:
    """xgb/data_utils.py ``_get_csv_delimiter`` (lines 147-153) on a file's first line."""
    try:
        return sniff_delimiter(line)
    except Exception as exc:
        raise user_error(f"Could not determine delimiter on line {line[:50]}:\n{exc}") from None


def _checked_delimiter(line: str) -> str:
    delimiter = training_delimiter(line)
    if delimiter.isalnum() or delimiter in ".-+":
        # e.g. a label-only file: the Sniffer picks a digit and xgboost would split numbers on it
        raise user_error(
            f"csv.Sniffer takes {delimiter!r} as the delimiter of {line[:50]!r}: the container would read"
            " garbage (the emulator refuses; a CSV row needs the label and at least one feature)"
        )
    return delimiter


# ---- parsed channels ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32] | None

    @property
    def cells(self) -> int:
        return int(self.features.size)

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    def save(self, worker: Worker, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"format": "npy"}
        for part in ("features", "labels", "weights"):
            value = getattr(self, part)
            if value is not None:
                spec[part] = worker.path(f"{name}-{part}.npy")
                np.save(spec[part], value)
        return spec


@dataclass
class SparseDataset:
    """Sparse rows (recordio-protobuf with keys): COO parts the worker turns into a CSR matrix."""

    rows: recordio.SparseRows
    labels: npt.NDArray[np.float32]

    @property
    def cells(self) -> int:
        return self.rows.size

    def save(self, worker: Worker, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"format": "coo", "shape": list(self.rows.shape or ())}
        for part in ("rows", "columns", "values"):
            spec[part] = worker.path(f"{name}-{part}.npy")
            np.save(spec[part], getattr(self.rows, part))
        spec["labels"] = worker.path(f"{name}-labels.npy")
        np.save(spec["labels"], self.labels)
        return spec


@dataclass
class LibsvmFiles:
    """A libsvm channel: its objects joined into one file xgboost parses (``?format=libsvm``)."""

    data: bytes

    @property
    def cells(self) -> int:
        return len(self.data) // 8

    def save(self, worker: Worker, name: str) -> dict[str, Any]:
        path = worker.path(f"{name}.libsvm")
        with open(path, "wb") as handle:
            handle.write(self.data)
        return {"format": "libsvm", "path": path}


ChannelData = Dataset | SparseDataset | LibsvmFiles


def load_libsvm(blobs: Sequence[tuple[str, bytes]]) -> LibsvmFiles:
    return LibsvmFiles(
        b"".join(data if data.endswith(b"\n") or not data else data + b"\n" for _, data in blobs)
    )


def _ragged_rows(uri: str, data: bytes, delimiter: str) -> npt.NDArray[np.float32]:
    """Rows of different lengths, as xgboost's CSV parser takes them: the missing fields are missing."""
    text = data.decode("utf-8", errors="replace")
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split(delimiter)
        if line.endswith(delimiter):
            fields.pop()
        try:
            rows.append([float(v) if v.strip() else np.nan for v in fields])
        except ValueError as exc:
            raise user_error(
                f"Failed to load csv data with exception:\n{uri}: not numeric CSV: {exc}"
            ) from None
    width = max((len(row) for row in rows), default=0)
    matrix = np.full((len(rows), width), np.nan, dtype=np.float32)
    for index, row in enumerate(rows):
        matrix[index, : len(row)] = row
    return matrix


def _csv_rows(uri: str, data: bytes, delimiter: str) -> npt.NDArray[np.float32] | None:
    """One file's rows as a float32 matrix (None: no rows). Stricter than the container on purpose
    (docs/contracts.md): a row that is not numeric (a header) fails the job instead of being read as data."""
    fields = csvio.count_fields(data, delimiter)
    if fields == 0:
        return None
    first = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    used = fields - 1 if first.endswith(delimiter.encode()) else fields  # "1,2,3," is 3 fields
    try:
        table = csvio.read_columns(data, fields, dict.fromkeys(range(used), pa.float32()), delimiter)
    except pa.ArrowInvalid as exc:
        if "Expected" in str(exc) and "columns" in str(exc):
            return _ragged_rows(uri, data, delimiter)
        raise user_error(f"Failed to load csv data with exception:\n{uri}: not numeric CSV: {exc}") from None
    return csvio.to_matrix([table.column(i) for i in range(used)])


def load_csv(
    channel: str, blobs: Sequence[tuple[str, bytes]], csv_weights: bool, delimiter: str = ","
) -> Dataset:
    """Every object of a CSV channel (label first, weight second with ``csv_weights``) as one dataset.

    Rows and files of different widths are padded with missing values, as xgboost reads them.
    """
    parts = [rows for uri, data in blobs if (rows := _csv_rows(uri, data, delimiter)) is not None]
    if not parts:
        raise user_error(
            f"No data in {_CHANNEL_WORDS.get(channel, channel)} channel path {CHANNEL_ROOT}/{channel}"
        )
    width = max(part.shape[1] for part in parts)
    first_feature = 2 if csv_weights else 1
    if width <= first_feature:
        raise user_error(
            f"Channel {channel}: rows need a label{' and a weight' if csv_weights else ''} and features"
        )
    padded = [
        part
        if part.shape[1] == width
        else np.pad(part, ((0, 0), (0, width - part.shape[1])), constant_values=np.nan)
        for part in parts
    ]
    matrix = np.concatenate(padded) if len(padded) > 1 else padded[0]
    return Dataset(
        features=np.ascontiguousarray(matrix[:, first_feature:]),
        labels=np.ascontiguousarray(matrix[:, 0]),
        weights=np.ascontiguousarray(matrix[:, 1]) if csv_weights else None,
    )


def load_parquet(blobs: Sequence[tuple[str, bytes]]) -> Dataset | None:
    """xgb/data_utils.py ``_get_parquet_dmatrix_file_mode`` (lines 404-427): ``pq.read_table`` of the files
    (which leaves out names starting with ``_`` or ``.``), label first, every column a number."""
    try:
        tables = [
            pq.read_table(io.BytesIO(data))
            for uri, data in blobs
            if not uri.rsplit("/", 1)[-1].startswith("_")
        ]
        if not tables:
            return None
        table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
        columns = [np.asarray(column.to_numpy(), dtype=np.float32) for column in table.columns]
        matrix = np.column_stack(columns) if columns else np.empty((0, 0), dtype=np.float32)
    except Exception as exc:
        raise user_error(f"Failed to load parquet data with exception:\n{exc}") from None
    if matrix.shape[0] == 0:
        return None
    return Dataset(np.ascontiguousarray(matrix[:, 1:]), np.ascontiguousarray(matrix[:, 0]), None)


def load_recordio(blobs: Sequence[tuple[str, bytes]]) -> Dataset | SparseDataset | None:
    """xgb/data_utils.py ``get_recordio_protobuf_dmatrix`` (lines 478-516): features and labels under
    ``"values"``, dense or sparse."""
    try:
        rows = recordio.read(b"".join(data for _, data in blobs), with_labels=True)
    except recordio.RecordIOError as exc:
        raise user_error(f"Failed to load recordio-protobuf data with exception:\n{exc}") from None
    if rows.shape[0] == 0:
        return None
    if isinstance(rows.matrix, recordio.SparseRows):
        return SparseDataset(rows.matrix, rows.labels)
    return Dataset(rows.matrix, rows.labels, None)


# ---- a job's channels ----------------------------------------------------------------------------


def _no_data(channel: str) -> JobFailure:
    return user_error(f"No data in {_CHANNEL_WORDS[channel]} channel path {CHANNEL_ROOT}/{channel}")


@dataclass
class _Channel:
    name: str
    files: list[ChannelFile]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _format_checked(channel: _Channel, file_type: str) -> list[ChannelFile]:
    """xgb/data_utils.py ``validate_data_file_path``: the first leaf folder's data files (CSV: each
    first line must sniff)."""
    if file_type != content_types.CSV:
        return []
    leaf = _first_leaf_folder(channel.files)
    return [f for f in channel.files if f.folder == leaf and _is_data_file(f.name)]


def _parse(
    channel: str, blobs: list[tuple[str, bytes]], file_type: str, csv_weights: bool, delimiter: str
) -> ChannelData | None:
    if file_type == content_types.CSV:
        return load_csv(channel, blobs, csv_weights, delimiter)
    if file_type == content_types.LIBSVM:
        return load_libsvm(blobs)
    if file_type == content_types.PARQUET:
        return load_parquet(blobs)
    return load_recordio(blobs)


def read_channels(
    channels: Mapping[str, list[ChannelFile]],
    file_type: str,
    *,
    pipe: bool,
    csv_weights: bool,
) -> tuple[ChannelData, ChannelData | None]:
    """The train and validation data the container trains on (``channels``: name -> its files in the
    job's layout, by path); JobFailure with the container's message otherwise."""
    found = [_Channel(name, files) for name, files in channels.items() if name in _CHANNEL_WORDS]
    cache: dict[str, bytes] = {}

    def content(file: ChannelFile) -> bytes:
        if file.uri not in cache:
            cache[file.uri] = file.local.read_bytes()
        return cache[file.uri]

    if not pipe:
        for channel in found:  # get_size, train then validation (train.py lines 67-68)
            if any(f.name.startswith(".") for f in channel.files):
                raise user_error(HIDDEN_FILE)
        for channel in found:
            for file in _format_checked(channel, file_type) if channel.size else []:
                training_delimiter(first_line(content(file)))
    data: dict[str, ChannelData | None] = {}
    for channel in found:
        read = channel.files if pipe else [f for f in channel.files if f.depth <= MAX_FOLDER_DEPTH]
        if not channel.size:
            data[channel.name] = None
        elif not read:
            data[channel.name] = _nothing_read(file_type)
        else:
            blobs = [(f.uri, content(f)) for f in read]
            delimiter = ","
            if file_type == content_types.CSV and not pipe:
                delimiter = _checked_delimiter(first_line(blobs[0][1]))
            data[channel.name] = _parse(channel.name, blobs, file_type, csv_weights, delimiter)
    train, validation = data.get("train"), data.get("validation")
    if train is None:
        raise _no_data("train")
    if "validation" in data and validation is None:
        raise _no_data("validation")
    return train, validation


def _nothing_read(file_type: str) -> ChannelData | None:
    """Every file deeper than MAX_FOLDER_DEPTH: the container's reader meets an empty folder."""
    if file_type == content_types.CSV:  # data_utils.py line 306: [...][0] of no files
        raise container_failure("IndexError", "list index out of range")
    if file_type == content_types.LIBSVM:
        raise user_error(
            "Failed to load libsvm data with exception:\nCannot find any files that matches the URI pattern"
            " /tmp/sagemaker_xgboost_input_data"
        )
    return None
