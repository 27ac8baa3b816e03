"""Content types and Accept as the built-in XGBoost container reads them (training and serving).

aws/sagemaker-xgboost-container 1.7-1 (identical at v3.0-5): ``data_utils.py`` ``get_content_type``
(lines 86-122) and ``algorithm_mode/serve.py`` ``_parse_accept`` (lines 163-179). Both go through
Python's ``cgi.parse_header``, ported here (``cgi`` is deprecated and leaves Python in 3.13).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

CSV, LIBSVM, PARQUET, RECORDIO_PROTOBUF = "csv", "libsvm", "parquet", "recordio-protobuf"
# data_utils.py lines 43-53 (sagemaker_containers' CSV is text/csv; xgb_content_types.py the rest)
VALID_CONTENT_TYPES = (
    CSV,
    LIBSVM,
    PARQUET,
    RECORDIO_PROTOBUF,
    "text/csv",
    "text/libsvm",
    "text/x-libsvm",
    "application/x-parquet",
    "application/x-recordio-protobuf",
)
# data_utils.py lines 55-62: Pipe mode streams every type but libsvm
VALID_PIPED_CONTENT_TYPES = tuple(
    t for t in VALID_CONTENT_TYPES if t not in (LIBSVM, "text/libsvm", "text/x-libsvm")
)
_KINDS = {
    CSV: CSV,
    "text/csv": CSV,
    LIBSVM: LIBSVM,
    "text/libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    PARQUET: PARQUET,
    "application/x-parquet": PARQUET,
    RECORDIO_PROTOBUF: RECORDIO_PROTOBUF,
    "application/x-recordio-protobuf": RECORDIO_PROTOBUF,
}
# algorithm_mode/serve.py line 31
SUPPORTED_ACCEPTS = (
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "text/csv",
)
DEFAULT_ACCEPT_VARIABLE = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


class ContentTypeError(ValueError):
    """The container's ``UserError`` for a content type it does not read (HTTP 415 when serving)."""


def _parameters(text: str) -> Iterator[str]:
    """cgi._parseparam: the ``;``-separated parts, a quoted ``;`` kept inside its part."""
    while text[:1] == ";":
        text = text[1:]
        end = text.find(";")
        while end > 0 and (text.count('"', 0, end) - text.count('\\"', 0, end)) % 2:
            end = text.find(";", end + 1)
        if end < 0:
            end = len(text)
        yield text[:end].strip()
        text = text[end:]


def parse_header(line: str) -> tuple[str, dict[str, str]]:
    """cgi.parse_header: ``'text/csv; label_size=1'`` -> ``('text/csv', {'label_size': '1'})``."""
    parts = _parameters(";" + line)
    key = next(parts)
    found: dict[str, str] = {}
    for part in parts:
        index = part.find("=")
        if index >= 0:
            name = part[:index].strip().lower()
            value = part[index + 1 :].strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
            found[name] = value
    return key, found


def kind(content_type: str | None) -> str:
    """data_utils.py ``get_content_type``: csv / libsvm / parquet / recordio-protobuf.

    None is libsvm (lines 97-98); a csv ``label_size`` other than 1 and any other type fail with the
    container's messages (lines 108-113, 122).
    """
    if content_type is None:
        return LIBSVM
    base, parameters = parse_header(content_type.lower())
    if base in (CSV, "text/csv"):
        if parameters and "label_size" in parameters and parameters["label_size"] != "1":
            raise ContentTypeError(
                f"{content_type} is not an accepted csv ContentType. "
                "Optional parameter label_size must be equal to 1"
            )
        return CSV
    if base in _KINDS:
        return _KINDS[base]
    raise ContentTypeError(
        f"{content_type} is not an accepted ContentType: {', '.join(VALID_CONTENT_TYPES)}."
    )


def accept(value: str | None, environment: Mapping[str, str] | None = None) -> str:
    """serve.py ``_parse_accept``: the Accept a response is encoded for; ValueError (HTTP 406) otherwise.

    No Accept (or ``*/*``) is SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, else text/csv.
    """
    base, _ = parse_header(value or "")
    if not base or base == "*/*":
        return (environment if environment is not None else os.environ).get(
            DEFAULT_ACCEPT_VARIABLE, "text/csv"
        )
    if base.lower() not in SUPPORTED_ACCEPTS:
        raise ValueError(
            f"Accept type {base} is not supported. "
            f"Please use supported accept types: {list(SUPPORTED_ACCEPTS)}."
        )
    return base.lower()
