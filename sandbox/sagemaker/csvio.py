"""Fast, vectorised CSV in and out (pyarrow), as the built-in XGBoost container reads and writes it.

Quoting is off: a field is the raw text between two commas, so joined output keeps the input's text.
An empty field parsed as a number is NaN.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FloatMatrix = npt.NDArray[np.float32]

_BLOCK_SIZE = 8 << 20


def column_name(index: int) -> str:
    return f"f{index}"


def count_fields(data: bytes, delimiter: str = ",") -> int:
    """Number of ``delimiter``-separated fields in the first non-empty line (0 for an empty file)."""
    start = 0
    size = len(data)
    while start < size:
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        line = data[start:end].rstrip(b"\r")
        if line:
            return line.count(delimiter.encode()) + 1
        start = end + 1
    return 0


def longest_line(data: bytes) -> int:
    """Length in bytes of the longest line (without its newline)."""
    if not data:
        return 0
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    bounds = np.concatenate(([-1], newlines, [len(data)]))
    return int(np.max(np.diff(bounds)) - 1)


def lines_fit(data: bytes, limit: int) -> bool:
    """True when no line of ``data`` (without its newline) is longer than ``limit`` bytes.

    Jumps from line start to the last newline within the next ``limit + 1`` bytes, so it searches
    about ``len(data) / limit`` windows instead of every line (``longest_line`` gives the length).
    """
    size = len(data)
    start = 0  # the start of a line
    while size - start > limit:
        newline = data.rfind(b"\n", start, start + limit + 1)
        if newline < 0:
            return False
        start = newline + 1
    return True


def read_columns(data: bytes, width: int, types: Mapping[int, pa.DataType], delimiter: str = ",") -> pa.Table:
    """Parse ``data`` (no header, ``width`` fields a row, ``delimiter`` between them) keeping only the
    columns in ``types``.

    Raises pyarrow.ArrowInvalid on a malformed file (wrong field count, non-numeric number, ...).
    """
    names = [column_name(i) for i in range(width)]
    wanted = sorted(types)
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=_BLOCK_SIZE),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, double_quote=False),
        convert_options=pacsv.ConvertOptions(
            column_types={column_name(i): types[i] for i in wanted},
            include_columns=[column_name(i) for i in wanted],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def as_float32(column: pa.ChunkedArray) -> npt.NDArray[np.float32]:
    """A float32 numpy vector from a parsed column (string columns: empty text -> NaN)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        empty = pc.equal(column, "")
        column = pc.if_else(empty, pa.scalar(None, column.type), column)
        column = pc.cast(column, pa.float32())
    values = column.to_numpy()
    return np.asarray(values, dtype=np.float32)


def to_matrix(columns: Sequence[pa.ChunkedArray]) -> FloatMatrix:
    """Stack columns into a C-ordered float32 matrix (rows x len(columns))."""
    rows = len(columns[0]) if columns else 0
    matrix = np.empty((rows, len(columns)), dtype=np.float32)
    for position, column in enumerate(columns):
        matrix[:, position] = as_float32(column)
    return matrix


def format_floats(values: npt.NDArray[np.floating]) -> pa.Array:
    """``str(float(v))`` for every value, vectorised (Arrow's shortest repr, patched where Python differs)."""
    doubles = np.ascontiguousarray(values, dtype=np.float64)
    text = pc.cast(pa.array(doubles), pa.string())
    magnitude = np.abs(doubles)
    with np.errstate(invalid="ignore"):
        python_only = (
            ~np.isfinite(doubles) | (magnitude < 1e-4) | (magnitude >= 1e16) | (doubles == np.trunc(doubles))
        )
    if python_only.any():
        fixed = [str(v) for v in doubles[python_only].tolist()]
        text = pc.replace_with_mask(text, pa.array(python_only), pa.array(fixed, pa.string()))
    return text


def format_lists(rows: npt.NDArray[np.floating]) -> pa.Array:
    """``str(list)`` of every row of floats, e.g. ``[0.1, 0.2, 0.7]`` (Python's list repr), vectorised."""
    columns = [format_floats(rows[:, i]) for i in range(rows.shape[1])]
    inner = pc.binary_join_element_wise(*columns, ", ") if len(columns) > 1 else columns[0]
    return pc.binary_join_element_wise(pa.scalar("["), inner, pa.scalar("]"), "")


def join_lines(columns: Sequence[pa.Array | pa.ChunkedArray]) -> bytes:
    """Join string columns with ``,`` into lines, each ending with ``\\n``; return the file's bytes."""
    if not columns or len(columns[0]) == 0:
        return b""
    parts: list[pa.Array | pa.ChunkedArray | pa.Scalar] = list(columns)
    lines = pc.binary_join_element_wise(*parts, ",") if len(parts) > 1 else parts[0]
    terminated = pc.binary_join_element_wise(lines, pa.scalar("", pa.string()), "\n")
    chunks = terminated.chunks if isinstance(terminated, pa.ChunkedArray) else [terminated]
    return b"".join(_string_bytes(chunk) for chunk in chunks)


def _string_bytes(array: pa.Array) -> bytes:
    """The concatenated characters of a string array without nulls, straight from its buffers."""
    if len(array) == 0:
        return b""
    offsets_dtype = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_dtype)
    start = int(offsets[array.offset])
    end = int(offsets[array.offset + len(array)])
    return data_buffer.to_pybytes()[start:end] if data_buffer is not None else b""
