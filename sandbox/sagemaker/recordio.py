"""RecordIO-protobuf, SageMaker's own data format, read and written with the protobuf library.

Details: sandbox/sagemaker/README.md, "recordio.py".
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

MAGIC = 0xCED7230A
_LENGTH_MASK = (1 << 29) - 1  # the upper 3 bits of the length word are MXNet's continuation flag


def _message_classes() -> dict[str, Any]:
    """The documented ``record.proto`` (cdf-training.html) as protobuf message classes."""
    proto = descriptor_pb2.FileDescriptorProto(name="snowsage_record.proto", package="aialgs.data")
    label = descriptor_pb2.FieldDescriptorProto
    repeated, optional = label.LABEL_REPEATED, label.LABEL_OPTIONAL
    packed = descriptor_pb2.FieldOptions(packed=True)

    def tensor(name: str, value_type: int) -> None:
        message = proto.message_type.add(name=name)
        message.field.add(name="values", number=1, label=repeated, type=value_type, options=packed)
        for number, field in ((2, "keys"), (3, "shape")):
            message.field.add(
                name=field, number=number, label=repeated, type=label.TYPE_UINT64, options=packed
            )

    tensor("Float32Tensor", label.TYPE_FLOAT)
    tensor("Float64Tensor", label.TYPE_DOUBLE)
    tensor("Int32Tensor", label.TYPE_INT32)
    raw = proto.message_type.add(name="Bytes")
    raw.field.add(name="value", number=1, label=repeated, type=label.TYPE_BYTES)
    raw.field.add(name="content_type", number=2, label=optional, type=label.TYPE_STRING)
    value = proto.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    for number, field, type_name in (
        (2, "float32_tensor", "Float32Tensor"),
        (3, "float64_tensor", "Float64Tensor"),
        (7, "int32_tensor", "Int32Tensor"),
        (9, "bytes", "Bytes"),
    ):
        value.field.add(
            name=field,
            number=number,
            label=optional,
            type=label.TYPE_MESSAGE,
            type_name=f".aialgs.data.{type_name}",
            oneof_index=0,
        )
    record = proto.message_type.add(name="Record")
    for number, field in ((1, "features"), (2, "label")):
        entry_name = f"{field.title()}Entry"
        entry = record.nested_type.add(name=entry_name, options=descriptor_pb2.MessageOptions(map_entry=True))
        entry.field.add(name="key", number=1, label=optional, type=label.TYPE_STRING)
        entry.field.add(
            name="value", number=2, label=optional, type=label.TYPE_MESSAGE, type_name=".aialgs.data.Value"
        )
        record.field.add(
            name=field,
            number=number,
            label=repeated,
            type=label.TYPE_MESSAGE,
            type_name=f".aialgs.data.Record.{entry_name}",
        )
    for number, field in ((3, "uid"), (4, "metadata"), (5, "configuration")):
        record.field.add(name=field, number=number, label=optional, type=label.TYPE_STRING)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"aialgs.data.{name}"))
        for name in ("Record", "Value")
    }


_CLASSES = _message_classes()
Record = _CLASSES["Record"]


class RecordIOError(ValueError):
    """Bytes that are not RecordIO-protobuf records."""


def split_records(data: bytes) -> Iterator[bytes]:
    """The payload of every RecordIO record in ``data``."""
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        if len(data) - offset < 8:
            raise RecordIOError(f"truncated record header at byte {offset}")
        magic, word = struct.unpack_from("<II", view, offset)
        if magic != MAGIC:
            raise RecordIOError(f"invalid RecordIO magic number at byte {offset}")
        if word >> 29:
            raise RecordIOError("multi-part RecordIO records are not emulated")
        length = word & _LENGTH_MASK
        start = offset + 8
        if start + length > len(data):
            raise RecordIOError(f"truncated record at byte {offset}")
        yield bytes(view[start : start + length])
        offset = start + ((length + 3) & ~3)


def record_sizes(data: bytes) -> list[int]:
    """The framed size in bytes of every record (for MaxPayloadInMB with SplitType RecordIO)."""
    return [8 + ((len(payload) + 3) & ~3) for payload in split_records(data)]


@dataclass(frozen=True)
class SparseRows:
    """COO parts of a sparse matrix; ``shape`` None lets scipy infer it (serve_utils.py line 115)."""

    rows: npt.NDArray[np.int64]
    columns: npt.NDArray[np.int64]
    values: npt.NDArray[Any]
    shape: tuple[int, int] | None

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass
class Rows:
    """Records read as a matrix, dense or sparse, and their labels (if read)."""

    matrix: npt.NDArray[np.float32] | SparseRows
    shape: tuple[int, int]
    labels: npt.NDArray[np.float32]


def _tensor(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None or kind == "bytes":
        raise RecordIOError(
            f"a record's tensor is {kind or 'empty'}: only float32, float64 and int32 are read"
        )
    return getattr(value, kind)


def read(data: bytes, *, with_labels: bool) -> Rows:
    """Every record's ``features["values"]`` (and ``label["values"]``) as a matrix; RecordIOError otherwise.

    Dense when the first record's tensor has no keys, sparse otherwise (mlio's rule: the first
    example decides, encoder.py line 92).
    """
    dense_rows: list[Sequence[float]] = []
    coo: tuple[list[int], list[int], list[float]] = ([], [], [])
    labels: list[float] = []
    width = -1
    sparse: bool | None = None
    count = 0
    for payload in split_records(data):
        record = Record()
        try:
            record.ParseFromString(payload)
        except Exception as exc:
            raise RecordIOError(f"record {count} is not a Record protobuf: {exc}") from None
        if "values" not in record.features:
            raise RecordIOError(f"record {count} has no features['values']")
        tensor = _tensor(record.features["values"])
        if sparse is None:
            sparse = len(tensor.keys) > 0
        if sparse:
            if not tensor.shape:
                raise RecordIOError(f"record {count}: a sparse tensor needs its shape")
            dimension = int(tensor.shape[0])
            if width not in (-1, dimension):
                raise RecordIOError(f"record {count} has {dimension} features, the first {width}")
            width = dimension
            coo[0].extend([count] * len(tensor.keys))
            coo[1].extend(int(k) for k in tensor.keys)
            coo[2].extend(tensor.values)
        else:
            if width not in (-1, len(tensor.values)):
                raise RecordIOError(f"record {count} has {len(tensor.values)} features, the first {width}")
            width = len(tensor.values)
            dense_rows.append(tensor.values)
        if with_labels:
            if "values" not in record.label:
                raise RecordIOError(f"record {count} has no label['values']")
            labels.extend(_tensor(record.label["values"]).values)
        count += 1
    shape = (count, max(width, 0))
    label_array = np.asarray(labels, dtype=np.float32)
    if sparse:
        parts = SparseRows(
            np.asarray(coo[0], dtype=np.int64),
            np.asarray(coo[1], dtype=np.int64),
            np.asarray(coo[2], dtype=np.float32),
            shape,
        )
        return Rows(parts, shape, label_array)
    return Rows(np.asarray(dense_rows, dtype=np.float32).reshape(shape), shape, label_array)


def frame(payload: bytes) -> bytes:
    """One RecordIO record around ``payload`` (sagemaker-containers ``_write_recordio``)."""
    padding = b"\x00" * (((len(payload) + 3) & ~3) - len(payload))
    return struct.pack("<II", MAGIC, len(payload)) + payload + padding


def dense_records(features: npt.ArrayLike, labels: npt.ArrayLike | None = None) -> bytes:
    """Rows as RecordIO-protobuf records of float32 tensors, as the SageMaker SDK's
    ``write_numpy_to_dense_tensor`` writes them (features and label under ``"values"``)."""
    matrix = np.asarray(features, dtype=np.float32)
    label_values = None if labels is None else np.asarray(labels, dtype=np.float32).reshape(len(matrix), -1)
    chunks = []
    for index, row in enumerate(matrix):
        record = Record()
        record.features["values"].float32_tensor.values.extend(row.tolist())
        if label_values is not None:
            record.label["values"].float32_tensor.values.extend(label_values[index].tolist())
        chunks.append(frame(record.SerializeToString()))
    return b"".join(chunks)


def label_records(rows: Sequence[dict[str, Any]]) -> bytes:
    """serve_utils.py ``_encode_selected_predictions_recordio_protobuf`` (lines 462-482): one RecordIO
    record per prediction, each selected key a float32 tensor under ``label``. Its buffer of serialized
    records is never reset, so record i holds records 0..i back to back; a reader merges them and the
    last one's values win, as they do here."""
    serialized = b""
    chunks = []
    for item in rows:
        record = Record()
        for key, value in item.items():
            values = value if isinstance(value, list) else [value]
            record.label[key].float32_tensor.values.extend(float(v) for v in values)
        serialized += record.SerializeToString()
        chunks.append(frame(serialized))
    return b"".join(chunks)
