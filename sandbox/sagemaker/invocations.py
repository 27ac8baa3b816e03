"""The built-in XGBoost container's ``POST /invocations`` on a real-time endpoint, for one request.

Details: sandbox/sagemaker/README.md, "invocations.py".
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

import numpy as np

from sandbox.sagemaker import transform
from sandbox.sagemaker.jsonpath_filter import parse_filter

# serve.py: the Accept types the container knows (SUPPORTED_ACCEPTS) and the ones it can encode
# without SAGEMAKER_INFERENCE_OUTPUT (sagemaker-containers _encoders._encoders_map: CSV, JSON, NPY).
SUPPORTED_ACCEPTS = (
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "text/csv",
)
ENCODED_ACCEPTS = ("application/json", "text/csv")
# The content types the container parses for inference (serve_utils.py parse_content_data).
CSV_TYPES = ("text/csv", "csv")
OTHER_TYPES = ("text/libsvm", "text/x-libsvm", "libsvm", "application/x-recordio-protobuf")
DEFAULT_ACCEPT_VARIABLE = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
_ANSWERED = re.compile(r"answered (\d{3})")


@dataclass(frozen=True)
class ContainerAnswer:
    """The container's HTTP answer: status, body and its Content-Type."""

    status: int
    body: bytes
    content_type: str = "text/csv"

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _error(status: int, message: str) -> ContainerAnswer:
    return ContainerAnswer(status, message.encode(), "text/html; charset=utf-8")


def _status_of(error: transform.TransformError, default: int) -> int:
    """The HTTP status a transform error names (``the model container answered 413 ...``)."""
    found = _ANSWERED.search(str(error))
    return int(found.group(1)) if found else default


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def request_spec(environment: dict[str, str]) -> transform.TransformSpec:
    """One request is one record set: no filters, no join, the container's MAX_CONTENT_LENGTH."""
    limit = int(environment.get("MAX_CONTENT_LENGTH", transform.DEFAULT_MAX_CONTENT_LENGTH))
    return transform.TransformSpec(
        input_filter=parse_filter("$"),
        output_filter=parse_filter("$"),
        join_input=False,
        split_lines=False,
        max_payload_bytes=limit,
        max_content_length=limit,
    )


def accept_of(header: str | None, environment: dict[str, str]) -> str | None:
    """serve.py ``_parse_accept``: none or ``*/*`` is SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT (else
    text/csv); an unknown one is None (406)."""
    accept = _media_type(header)
    if not accept or accept == "*/*":
        return environment.get(DEFAULT_ACCEPT_VARIABLE, "text/csv")
    return accept if accept in SUPPORTED_ACCEPTS else None


def encode(predictions: np.ndarray, rows: int, accept: str) -> bytes:
    """The predictions in the Accept type, as the container encodes them outside batch transform."""
    values = predictions.reshape(rows, -1).tolist()
    single = predictions.reshape(rows, -1).shape[1] == 1
    listed = [row[0] for row in values] if single else values
    if accept == "application/json":
        return json.dumps({"predictions": [{"score": value} for value in listed]}).encode()
    # encoders.array_to_csv: np.array of the list, a column when it is 1-D, csv.writer rows.
    stream = io.StringIO()
    writer = csv.writer(
        stream, lineterminator="\n", delimiter=",", quotechar='"', doublequote=True, strict=True
    )
    writer.writerows(np.array(listed, dtype=np.float64).reshape(rows, -1))
    return stream.getvalue().encode()


def answer(  # noqa: PLR0911  (one answer per way the container refuses a request)
    scorer: transform.Scorer,
    body: bytes,
    content_type: str | None,
    accept: str | None,
    environment: dict[str, str],
) -> ContainerAnswer:
    """The container's answer to ``POST /invocations`` with ``body``."""
    if not body:
        return ContainerAnswer(204, b"")
    media = _media_type(content_type)
    if media in OTHER_TYPES:
        return _error(415, f"Content type {media} is not emulated for real-time inference: send text/csv")
    if media not in CSV_TYPES:
        return _error(415, f"Content type {content_type or 'None'} is not supported by this framework.")
    spec = request_spec(environment)
    try:
        parsed = transform.parse_object(body, spec)
    except transform.TransformError as error:
        return _error(_status_of(error, 415), str(error))
    if parsed is None:
        return ContainerAnswer(204, b"")
    try:
        predictions, _ = scorer.predict(parsed.matrix, 1)
    except transform.TransformError as error:
        return _error(400, f"Unable to evaluate payload provided: {error}")
    chosen = accept_of(accept, environment)
    if chosen is None:
        supported = list(SUPPORTED_ACCEPTS)
        return _error(
            406,
            f"Accept type {_media_type(accept)} is not supported."
            f" Please use supported accept types: {supported}.",
        )
    if chosen not in ENCODED_ACCEPTS:
        return _error(500, "Internal Server Error")
    return ContainerAnswer(200, encode(predictions, parsed.rows, chosen), chosen)
