"""A request checked against botocore's service model, the way the real service checks it.

botocore's own client-side validation checks types and required members but neither patterns
nor maximum lengths; the service does. The models' patterns are Java-style (``\\p{L}``), which
the ``regex`` package reads. A pattern must match the whole value (Java ``matches``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session
import regex
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape


@cache
def operation(service: str, name: str) -> OperationModel:
    return botocore.session.get_session().get_service_model(service).operation_model(name)


def string_problems(shape: Shape, value: str, where: str) -> list[str]:
    problems = []
    meta = shape.metadata
    if "min" in meta and len(value) < meta["min"]:
        problems.append(f"{where}: shorter than {meta['min']}")
    if "max" in meta and len(value) > meta["max"]:
        problems.append(f"{where}: longer than {meta['max']} ({len(value)})")
    if "pattern" in meta and not regex.fullmatch(meta["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
    if shape.enum and value not in shape.enum:
        problems.append(f"{where}: {value!r} is not one of {shape.name}")
    return problems


def _size_problems(shape: Shape, value: Any, where: str, what: str) -> list[str]:
    found = []
    if "min" in shape.metadata and len(value) < shape.metadata["min"]:
        found.append(f"{where}: fewer than {shape.metadata['min']} {what}")
    if "max" in shape.metadata and len(value) > shape.metadata["max"]:
        found.append(f"{where}: more than {shape.metadata['max']} {what}")
    return found


def _structure_problems(shape: StructureShape, value: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not a structure"]
    found = [f"{where}.{key}: unknown member" for key in value if key not in shape.members]
    found += [f"{where}.{key}: missing" for key in shape.required_members if key not in value]
    for key, item in value.items():
        if key in shape.members:
            found += problems(shape.members[key], item, f"{where}.{key}")
    return found


def problems(shape: Shape, value: Any, where: str = "") -> list[str]:
    if isinstance(shape, StructureShape):
        return _structure_problems(shape, value, where)
    if isinstance(shape, ListShape):
        found = _size_problems(shape, value, where, "items")
        for index, item in enumerate(value):
            found += problems(shape.member, item, f"{where}[{index}]")
        return found
    if isinstance(shape, MapShape):
        found = _size_problems(shape, value, where, "entries")
        for key, item in value.items():
            found += problems(shape.key, key, f"{where} key {key!r}")
            found += problems(shape.value, item, f"{where}[{key!r}]")
        return found
    if shape.type_name == "string":
        return string_problems(shape, value, where) if isinstance(value, str) else [f"{where}: not a string"]
    return []


def request_problems(service: str, operation_name: str, request: dict[str, Any]) -> list[str]:
    return problems(operation(service, operation_name).input_shape, request, operation_name)
