"""The layers' pinned requirements: complete, free of runtime-provided packages, aligned with dev.lock."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.template.template_model import ROOT

LAYERS = {"CommonLayer": ROOT / "layers/common", "SnowflakeLayer": ROOT / "layers/snowflake"}
# What the Lambda python3.12 runtime already ships (boto3 and its dependency tree).
RUNTIME_PROVIDED = {
    canonicalize_name(name)
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
}
# Layers may not ship these (urllib3 is allowed: requests pins its own range, the runtime's may lag).
FORBIDDEN = RUNTIME_PROVIDED - {"urllib3"}
# The Lambda platform, for evaluating dependency markers.
LAMBDA_ENV = {
    **default_environment(),
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
    "extra": "",
}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)$")


def _pins(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.relative_to(ROOT)}: {line!r} is not pinned as name==version"
        pins[canonicalize_name(match["name"])] = match["version"]
    return pins


def _dev_lock() -> dict[str, str]:
    return _pins(ROOT / "requirements" / "dev.lock")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_pins_exclude_runtime_packages_and_match_dev_lock(layer: str) -> None:
    pins = _pins(LAYERS[layer] / "requirements.txt")
    assert pins
    assert set(pins) & FORBIDDEN == set(), "the Lambda runtime provides these"
    dev = _dev_lock()
    assert {name: version for name, version in pins.items() if dev.get(name, version) != version} == {}


def test_layers_agree_on_shared_packages() -> None:
    common = _pins(LAYERS["CommonLayer"] / "requirements.txt")
    snowflake = _pins(LAYERS["SnowflakeLayer"] / "requirements.txt")
    assert {
        name: (common[name], snowflake[name])
        for name in common.keys() & snowflake.keys()
        if common[name] != snowflake[name]
    } == {}


@pytest.mark.parametrize(
    ("layer", "extra_available"), [("CommonLayer", ()), ("SnowflakeLayer", ("CommonLayer",))]
)
def test_layer_requirements_are_closed(layer: str, extra_available: tuple[str, ...]) -> None:
    """Installed with --no-deps, so every dependency must be pinned here, in a layer below, or in the runtime.

    Dependency metadata is read from the development venv, which has the same versions (test above).
    """
    pins = _pins(LAYERS[layer] / "requirements.txt")
    available = set(pins) | RUNTIME_PROVIDED
    for other in extra_available:
        available |= set(_pins(LAYERS[other] / "requirements.txt"))
    missing: dict[str, list[str]] = {}
    for name, version in pins.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed in this venv")
        assert dist.version == version, f"{name}: venv has {dist.version}, layer pins {version}"
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate(LAMBDA_ENV):
                continue
            if canonicalize_name(requirement.name) not in available:
                missing.setdefault(name, []).append(requirement.name)
    assert missing == {}


def test_powertools_tracer_extra_is_installed() -> None:
    """aws-lambda-powertools[tracer] = aws-xray-sdk; the pinned list carries the extra's packages."""
    pins = _pins(LAYERS["CommonLayer"] / "requirements.txt")
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic"} <= set(pins)
    assert pins["aws-lambda-powertools"] == "3.37.0"
    assert pins["pydantic"] == "2.13.5"
    assert _pins(LAYERS["SnowflakeLayer"] / "requirements.txt")["snowflake-connector-python"] == "4.8.1"
