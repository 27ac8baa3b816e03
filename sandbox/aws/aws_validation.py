"""The sandbox refuses what AWS refuses: every request is checked against botocore's service model.

Details: sandbox/README.md, "aws/aws_validation.py".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import logging
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import regex
from botocore.model import OperationNotFoundError, Shape
from moto.core.exceptions import ServiceException
from moto.core.model import OperationModel, ServiceModel
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model

__all__ = [
    "DOCUMENTED_RULES",
    "AwsRequestRefused",
    "Violation",
    "check_request",
    "check_shape",
    "coverage",
    "install",
    "installed",
    "java_pattern",
    "operation_name",
    "read_request",
    "refusal",
    "reset_coverage",
    "uncheckable_patterns",
    "uninstall",
]

LOG = logging.getLogger(__name__)
_SHOWN_VALUE_LIMIT: Final = 1024


# --------------------------------------------------------------------------------------------
# The refusal
# --------------------------------------------------------------------------------------------


class AwsRequestRefused(ServiceException):
    """A request the real service refuses with HTTP 400 (``code``, ``message`` as AWS sends them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# moto's serializer warns when an error code is not among the service model's error shapes
# (ValidationException is in none of them, SerializationException in few): AWS sends them anyway.
warnings.filterwarnings("ignore", message=r"Exception\(AwsRequestRefused\) with code", category=UserWarning)


# --------------------------------------------------------------------------------------------
# Java patterns
# --------------------------------------------------------------------------------------------

# Java writes a character outside the BMP as a UTF-16 surrogate pair; Python matches code points.
_SURROGATE_RANGE: Final = r"\uD800\uDC00-\uDBFF\uDFFF"
_JAVA_HEX_ESCAPE: Final = regex.compile(r"\\x\{([0-9A-Fa-f]+)\}")
_UNCHECKABLE: set[str] = set()


@functools.cache
def java_pattern(pattern: str) -> regex.Pattern[str] | None:
    """A model's pattern (Java syntax: ``\\p{L}``, surrogate pairs, ``\\x{60}``) compiled, or None."""
    translated = pattern.replace(_SURROGATE_RANGE, r"\U00010000-\U0010FFFF")
    translated = _JAVA_HEX_ESCAPE.sub(lambda m: f"\\U{int(m.group(1), 16):08X}", translated)
    try:
        return regex.compile(translated)
    except regex.error:
        _UNCHECKABLE.add(pattern)
        return None


def uncheckable_patterns() -> set[str]:
    """Model patterns met so far that could not be compiled (their members go unchecked)."""
    return set(_UNCHECKABLE)


# --------------------------------------------------------------------------------------------
# Checking a value against a shape
# --------------------------------------------------------------------------------------------

_NULL: Final = object()


@dataclass(frozen=True)
class Violation:
    """One failed constraint, worded as AWS words it (``Value 'x' at 'a.b' failed to satisfy …``)."""

    path: str
    value: Any
    constraint: str
    is_type_error: bool = False
    sensitive: bool = False

    def describe(self) -> str:
        if self.is_type_error:
            return f"Value at '{self.path}' {self.constraint}"
        if self.sensitive:
            return f"Value at '{self.path}' failed to satisfy constraint: {self.constraint}"
        return f"Value {_shown(self.value)} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def _shown(value: Any) -> str:
    if value is _NULL or value is None:
        return "null"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
    elif isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    else:
        text = str(value)
    if len(text) > _SHOWN_VALUE_LIMIT:
        text = text[:_SHOWN_VALUE_LIMIT] + "…"
    return f"'{text}'"


def _member_path(parent: str, member: str) -> str:
    # AWS names members in messages with a lower-case first letter: 'customerMetadataProperties'.
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def _java_length(text: str) -> int:
    """String length as AWS (Java) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _bound_constraints(shape: Shape, amount: float, measure: str = "length") -> list[str]:
    """The model's ``min``/``max`` on a length (strings, lists, maps, blobs) or a ``value`` (numbers)."""
    found = []
    minimum = shape.metadata.get("min")
    maximum = shape.metadata.get("max")
    if minimum is not None and amount < minimum:
        found.append(f"Member must have {measure} greater than or equal to {minimum}")
    if maximum is not None and amount > maximum:
        found.append(f"Member must have {measure} less than or equal to {maximum}")
    return found


def _string_constraints(shape: Shape, text: str) -> list[str]:
    found = _bound_constraints(shape, _java_length(text))
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        compiled = java_pattern(pattern)
        if compiled is not None and compiled.fullmatch(text) is None:
            found.append(f"Member must satisfy regular expression pattern: {pattern}")
    enum: list[str] = shape.metadata.get("enum", [])
    if enum and text not in enum:
        found.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    return found


def _blob_length(value: Any, wire: bool) -> int | None:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, str):
        if not wire:
            return len(value.encode("utf-8"))
        try:
            return len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return None
    return None


_TYPE_NAMES: Final = {
    "structure": "a structure",
    "list": "a list",
    "map": "a map",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "short": "an integer",
    "byte": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "timestamp": "a timestamp",
    "blob": "a blob",
}


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPE_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "structure": lambda v: isinstance(v, Mapping),
    "map": lambda v: isinstance(v, Mapping),
    "list": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "long": _is_integer,
    "short": _is_integer,
    "byte": _is_integer,
    "float": _is_number,
    "double": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    # parsed: datetime; on the JSON wire: epoch seconds or an ISO 8601 string
    "timestamp": lambda v: isinstance(v, (dt.datetime, str)) or _is_number(v),
    # parsed: bytes; on the JSON wire: base64
    "blob": lambda v: isinstance(v, (bytes, bytearray, str)),
}


def _has_type(type_name: str, value: Any) -> bool:
    check = _TYPE_CHECKS.get(type_name)
    return check is None or check(value)


class _Checker:
    def __init__(self, *, wire: bool) -> None:
        self.wire = wire  # JSON as sent: member keys are serialized names, blobs base64
        self.violations: list[Violation] = []

    def add(self, shape: Shape, path: str, value: Any, constraints: list[str]) -> None:
        sensitive = bool(shape.metadata.get("sensitive"))
        self.violations.extend(Violation(path, value, c, sensitive=sensitive) for c in constraints)

    def check(self, shape: Shape, value: Any, path: str) -> None:
        type_name = shape.type_name
        if getattr(shape, "is_document_type", False):
            return
        if not _has_type(type_name, value):
            expected = _TYPE_NAMES.get(type_name, type_name)
            self.violations.append(Violation(path, value, f"must be {expected}", is_type_error=True))
            return
        if type_name == "structure":
            self._structure(shape, value, path)
        elif type_name == "list":
            self.add(shape, path, value, _bound_constraints(shape, len(value)))
            for index, item in enumerate(value, start=1):
                if item is not None:
                    self.check(shape.member, item, f"{path}.{index}.member")  # type: ignore[attr-defined]
        elif type_name == "map":
            self._map(shape, value, path)
        elif type_name == "string":
            self.add(shape, path, value, _string_constraints(shape, value))
        elif type_name in ("integer", "long", "short", "byte", "float", "double"):
            self.add(shape, path, value, _bound_constraints(shape, value, "value"))
        elif type_name == "blob":
            length = _blob_length(value, self.wire)
            if length is not None:
                self.add(shape, path, value, _bound_constraints(shape, length))

    def _key(self, member: Shape, name: str) -> str:
        return str(member.serialization.get("name", name)) if self.wire else name

    def _structure(self, shape: Shape, value: Mapping[str, Any], path: str) -> None:
        members: Mapping[str, Shape] = shape.members  # type: ignore[attr-defined]
        for name in shape.required_members:
            member = members[name]
            if value.get(self._key(member, name)) is None:
                self.add(member, _member_path(path, name), _NULL, ["Member must not be null"])
        for name, member in members.items():
            member_value = value.get(self._key(member, name))
            if member_value is not None:
                self.check(member, member_value, _member_path(path, name))

    def _map(self, shape: Shape, value: Mapping[Any, Any], path: str) -> None:
        self.add(shape, path, value, _bound_constraints(shape, len(value)))
        key_shape: Shape = shape.key  # type: ignore[attr-defined]
        value_shape: Shape = shape.value  # type: ignore[attr-defined]
        for key, item in value.items():
            if isinstance(key, str):
                key_problems = _string_constraints(key_shape, key)
                if key_problems:
                    joined = ", ".join(key_problems)
                    self.add(key_shape, path, key, [f"Map keys must satisfy constraint: [{joined}]"])
            if item is not None:
                self.check(value_shape, item, f"{path}.{key}")


def check_shape(shape: Shape | None, value: Any, *, wire: bool = False) -> list[Violation]:
    """Every violation of ``shape``'s constraints by ``value`` (botocore-style input parameters).

    ``wire=True`` reads ``value`` as the JSON body of the ``json`` protocol: members under their
    serialized names, blobs base64, timestamps numbers or strings.
    """
    if shape is None:
        return []
    checker = _Checker(wire=wire)
    checker.check(shape, value, "")
    return checker.violations


# --------------------------------------------------------------------------------------------
# Rules AWS documents outside the models
# --------------------------------------------------------------------------------------------

DocumentedRule = Callable[[Mapping[str, Any]], "AwsRequestRefused | None"]

# API_StartExecution / API_CreateStateMachine: "A name must not contain: white space, brackets
# < > { } [ ], wildcard characters ? *, special characters " # % \ ^ | ~ ` $ & , ; : /, control
# characters (U+0000-001F, U+007F-009F)." (Length, 1 to 80, is in the model.)
_STEP_FUNCTIONS_NAME_FORBIDDEN: Final = regex.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
# API_Publish (Subject): "Subjects must be UTF-8 text with no line breaks or control characters,
# and less than 100 characters long" and "must begin with a letter, number, or punctuation mark".
_SNS_SUBJECT_LIMIT: Final = 100
_SNS_SUBJECT_CONTROL: Final = regex.compile(r"[\p{Cc}\p{Zl}\p{Zp}]")
_SNS_SUBJECT_START: Final = regex.compile(r"[\p{L}\p{N}\p{P}]")
# API_Publish (Message): "at most 256 KB in size (262,144 bytes, not 262,144 characters)".
_SNS_MESSAGE_BYTES: Final = 262_144


def _step_functions_name(member: str) -> DocumentedRule:
    def rule(params: Mapping[str, Any]) -> AwsRequestRefused | None:
        name = params.get(member)
        if isinstance(name, str) and _STEP_FUNCTIONS_NAME_FORBIDDEN.search(name):
            return AwsRequestRefused("InvalidName", f"Invalid Name: '{name}'")
        return None

    return rule


def _sns_publish(params: Mapping[str, Any]) -> AwsRequestRefused | None:
    subject = params.get("Subject")
    if isinstance(subject, str) and (
        len(subject) >= _SNS_SUBJECT_LIMIT
        or _SNS_SUBJECT_CONTROL.search(subject)
        or not _SNS_SUBJECT_START.match(subject)
    ):
        return AwsRequestRefused("InvalidParameter", "Invalid parameter: Subject")
    message = params.get("Message")
    if isinstance(message, str):
        if not message:
            return AwsRequestRefused("InvalidParameter", "Invalid parameter: Empty message")
        if len(message.encode("utf-8")) > _SNS_MESSAGE_BYTES:
            return AwsRequestRefused("InvalidParameter", "Invalid parameter: Message too long")
    return None


DOCUMENTED_RULES: Final[dict[tuple[str, str], DocumentedRule]] = {
    ("sns", "Publish"): _sns_publish,
    ("stepfunctions", "StartExecution"): _step_functions_name("name"),
    ("stepfunctions", "StartSyncExecution"): _step_functions_name("name"),
    ("stepfunctions", "CreateStateMachine"): _step_functions_name("name"),
}


# --------------------------------------------------------------------------------------------
# A request
# --------------------------------------------------------------------------------------------


@functools.cache
def _service_model(service: str) -> ServiceModel:
    return get_service_model(service)


def operation_name(service: str, name: str) -> str | None:
    """The model's spelling of an operation named case-insensitively (``createTrainingJob``)."""
    wanted = name.lower()
    for operation in _service_model(service).operation_names:
        if operation.lower() == wanted:
            return str(operation)
    return None


def refusal(service_model: ServiceModel, violations: list[Violation]) -> AwsRequestRefused:
    """The error the service answers ``violations`` with."""
    protocol = service_model.protocol
    type_errors = [v for v in violations if v.is_type_error]
    if type_errors and protocol in ("json", "rest-json"):
        return AwsRequestRefused("SerializationException", type_errors[0].describe())
    first = violations[0]
    if service_model.service_name == "sns":
        # SNS answers every invalid parameter with InvalidParameter (API_Publish, API_CreateTopic…).
        member = first.path[:1].upper() + first.path[1:]  # SNS names members as sent: TopicArn
        return AwsRequestRefused(
            "InvalidParameter", f"Invalid parameter: {member} Reason: {first.constraint}"
        )
    count = len(violations)
    message = f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(
        v.describe() for v in violations
    )
    # Query-protocol services (IAM, CloudFormation, STS) name it ValidationError, JSON ones
    # ValidationException (the common errors of each API reference).
    code = "ValidationError" if protocol in ("query", "ec2") else "ValidationException"
    return AwsRequestRefused(code, message)


def check_request(
    service: str, operation: str, params: Mapping[str, Any], *, wire: bool = False
) -> AwsRequestRefused | None:
    """The refusal AWS answers this request with, or None when AWS accepts it (as far as known)."""
    service_model = _service_model(service)
    try:
        operation_model: OperationModel = service_model.operation_model(operation)
    except OperationNotFoundError:
        return None
    violations = check_shape(operation_model.input_shape, params, wire=wire)
    if violations:
        return refusal(service_model, violations)
    rule = DOCUMENTED_RULES.get((service, operation))
    if rule is None:
        return None
    plain = params
    if wire and operation_model.input_shape is not None:
        members = operation_model.input_shape.members
        plain = {name: params.get(m.serialization.get("name", name)) for name, m in members.items()}
    return rule(plain)


# --------------------------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------------------------

_COVERAGE: Counter[tuple[str, str, str]] = Counter()
_COVERAGE_LOCK = threading.Lock()


def _count(service: str, operation: str, outcome: str) -> None:
    with _COVERAGE_LOCK:
        _COVERAGE[(service, operation, outcome)] += 1


def coverage() -> dict[tuple[str, str, str], int]:
    """``(service, operation, outcome) -> requests``; outcome is checked, refused or ``skipped: why``."""
    with _COVERAGE_LOCK:
        return dict(_COVERAGE)


def reset_coverage() -> None:
    with _COVERAGE_LOCK:
        _COVERAGE.clear()


# --------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------

_PARSED_PROTOCOLS: Final = ("query", "rest-json")


def _read(response: BaseResponse) -> tuple[str, str, dict[str, Any], bool] | str:  # noqa: PLR0911
    """``(service, operation, params, wire)``, or why the request cannot be read."""
    service = response.boto3_service_name
    try:
        service_model = _service_model(service)
    except Exception:  # not a botocore service (moto-api, …)
        return "skipped: no service model"
    request = response.normalized_request
    try:
        protocol = determine_request_protocol(service_model, request.content_type)
    except NotImplementedError:
        protocol = service_model.protocol
    if protocol not in ("json", *_PARSED_PROTOCOLS):
        return f"skipped: {protocol} protocol"
    operation = response._get_action()
    if not operation:
        return "skipped: no operation"
    try:
        operation_model = service_model.operation_model(operation)
    except OperationNotFoundError:
        return "skipped: not in the model"
    try:
        if protocol == "json":
            body = response.body
            # moto's DynamoDB handler has already decoded its body; every other JSON service keeps the text
            params = body if isinstance(body, dict) else json.loads(body) if body else {}
            if not isinstance(params, dict):
                raise ValueError("the body is not a JSON object")
            return service, operation, params, True
        parser = PROTOCOL_PARSERS[protocol](operation_model, map_type=dict)
        params = parser.parse(
            {
                "method": request.method,
                "values": request.values,
                "headers": request.headers,
                "body": request.data,
                "url_path": request.path,
                "url_params": response.uri_match,
            }
        )
        return service, operation, params, False
    except Exception as exc:  # moto answers malformed bodies its own way
        return f"skipped: unreadable ({type(exc).__name__})"


def read_request(response: BaseResponse) -> tuple[str, str, dict[str, Any]] | None:
    """``(service, operation, parameters)`` of a request moto received (read once per request), or
    None when it is not a JSON, query or rest-json request of a botocore service."""
    cached = getattr(response, "_sandbox_read", None)
    if cached is None:
        cached = _read(response)
        response._sandbox_read = cached  # type: ignore[attr-defined]
    if isinstance(cached, str):
        return None
    service, operation, params, _ = cached
    return service, operation, params


def _http_refusal(response: BaseResponse) -> AwsRequestRefused | None:
    read = getattr(response, "_sandbox_read", None) or _read(response)
    response._sandbox_read = read  # type: ignore[attr-defined]
    if isinstance(read, str):
        named = read.startswith(("skipped: not in the model", "skipped: unreadable"))
        _count(response.boto3_service_name, response._get_action() if named else "", read)
        return None
    service, operation, params, wire = read
    refused = check_request(service, operation, params, wire=wire)
    _count(service, operation, "checked" if refused is None else "refused")
    if refused is not None:
        LOG.info("refused %s %s: %s", service, operation, refused)
    return refused


_ORIGINAL_CALL_ACTION: Final = BaseResponse.call_action
_INSTALL_LOCK = threading.Lock()


def _validating_call_action(self: BaseResponse) -> Any:
    refused = _http_refusal(self)
    if refused is None:
        return _ORIGINAL_CALL_ACTION(self)
    status, headers, body = self.serialized(ActionResult(refused))
    headers, body = self._enrich_response(headers, body)
    return status, headers, body


def install() -> None:
    """Check every request moto receives from now on (idempotent)."""
    with _INSTALL_LOCK:
        BaseResponse.call_action = _validating_call_action  # type: ignore[method-assign]


def uninstall() -> None:
    """moto's own ``call_action`` again: requests are no longer checked."""
    with _INSTALL_LOCK:
        BaseResponse.call_action = _ORIGINAL_CALL_ACTION  # type: ignore[method-assign]


def installed() -> bool:
    return BaseResponse.__dict__.get("call_action") is _validating_call_action
