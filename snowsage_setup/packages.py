"""The Anaconda pins of Snowsage's Python objects, checked at apply time against INFORMATION_SCHEMA.PACKAGES.

TRAIN_MODEL (35_training_procedure.sql) and every ML_PREDICT_<DATASET> (PublishModel,
snowsage/snowflake/publishing.py) name ``RUNTIME_VERSION`` and ``PACKAGES`` pins from Snowflake's
Anaconda channel. A pin the channel lacks for that runtime makes CREATE fail (100357) halfway through
the setup, or at a run's PublishModel. So before the first Python object, the apply reads the
channel's rows for those packages (docs: sql-reference/info-schema/packages; its RUNTIME_VERSION
column, release-notes/bcr-bundles/2023_04/bcr-1094) and stops with what to do when one is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from snowsage.snowflake import publishing

PYTHON_OBJECT = re.compile(
    r"\s*CREATE\s+(?:OR\s+(?:REPLACE|ALTER)\s+)?(?:PROCEDURE|FUNCTION)\b.*?\bLANGUAGE\s+PYTHON\b", re.I | re.S
)
_OPTION = r"\b{name}\s*=\s*"
_STRING = re.compile(r"'([^']*)'")
# What to do when a pin is missing (docs/snowflake.md, "The pin").
FALLBACK = (
    "Pin a version the channel has (snowsage/snowflake/publishing.py XGBOOST_FOR_IMAGE and"
    " snowflake/setup/35_training_procedure.sql, after tests/snowflake/test_python_functions.py shows it"
    " reads the image's model), or install the pinned wheel from PyPI with ARTIFACT_REPOSITORY ="
    " snowflake.snowpark.pypi_shared_repository (docs: developer-guide/udf/python/udf-python-packages,"
    " 'Artifact Repository'); docs/snowflake.md, 'The pin'"
)
ANACONDA_TERMS = re.compile(r"anaconda", re.I)


class PackagePinMissing(RuntimeError):
    """A pinned package version is not on Snowflake's Anaconda channel for its runtime."""


class AnacondaTermsNotAccepted(RuntimeError):
    """A Python object with Anaconda packages was refused because the terms are not accepted."""


@dataclass(frozen=True)
class PackagePin:
    package: str  # lower case, as INFORMATION_SCHEMA.PACKAGES names them
    version: str | None  # None: any version
    runtime: str  # RUNTIME_VERSION, e.g. 3.11
    used_by: str

    def __str__(self) -> str:
        return f"{self.package}=={self.version}" if self.version else self.package


def _pin(spec: str, runtime: str, used_by: str) -> PackagePin:
    name, _, version = spec.partition("==")
    return PackagePin(name.strip().lower(), version.strip() or None, runtime, used_by)


def statement_pins(text: str, where: str) -> list[PackagePin]:
    """The pins of a CREATE PROCEDURE/FUNCTION … LANGUAGE PYTHON (none for any other statement)."""
    head = text.split("$$", 1)[0]
    if not PYTHON_OBJECT.match(head):
        return []
    runtime = re.search(_OPTION.format(name="RUNTIME_VERSION") + r"'([^']*)'", head, re.I)
    packages = re.search(_OPTION.format(name="PACKAGES") + r"\(([^)]*)\)", head, re.I)
    if runtime is None or packages is None:
        return []
    return [_pin(spec, runtime.group(1), where) for spec in _STRING.findall(packages.group(1))]


def publishing_pins() -> list[PackagePin]:
    """What PublishModel creates every ML_PREDICT_<DATASET> with, for each image it can publish."""
    specs = {
        spec
        for image in publishing.XGBOOST_FOR_IMAGE.values()
        for spec in (image, *publishing.OTHER_PACKAGES)
    }
    return [
        _pin(spec, publishing.RUNTIME_VERSION, "ML_PREDICT_<DATASET> (PublishModel)")
        for spec in sorted(specs)
    ]


def packages_query(pins: Sequence[PackagePin]) -> tuple[str, list[str]]:
    """One query for every pinned package's rows (the names and runtimes are bound)."""
    names = sorted({pin.package for pin in pins})
    runtimes = sorted({pin.runtime for pin in pins})
    marks = ", ".join(["%s"] * len(names))
    runtime_marks = ", ".join(["%s"] * len(runtimes))
    # S608: only bind markers are inlined; the names and runtimes are bound.
    query = (
        "SELECT LOWER(PACKAGE_NAME), VERSION, RUNTIME_VERSION FROM INFORMATION_SCHEMA.PACKAGES"  # noqa: S608
        f" WHERE LANGUAGE = 'python' AND LOWER(PACKAGE_NAME) IN ({marks})"
        f" AND RUNTIME_VERSION IN ({runtime_marks})"
    )
    return query, [*names, *runtimes]


def missing_pins(pins: Iterable[PackagePin], rows: Iterable[Sequence[Any]]) -> list[str]:
    """One line per pin the rows (package, version, runtime) do not offer, with what they do offer."""
    offered: dict[tuple[str, str], set[str]] = {}
    for package, version, runtime in rows:
        offered.setdefault((str(package).lower(), str(runtime)), set()).add(str(version))
    problems: dict[str, list[str]] = {}
    for pin in pins:
        versions = offered.get((pin.package, pin.runtime), set())
        if versions and (pin.version is None or pin.version in versions):
            continue
        listed = ", ".join(sorted(versions, key=_version_key)[-8:]) or "none"
        line = (
            f"{pin} is not on Snowflake's Anaconda channel for Python {pin.runtime}"
            f" (INFORMATION_SCHEMA.PACKAGES lists: {listed})"
        )
        problems.setdefault(line, []).append(pin.used_by)
    return [f"{line}; needed by {', '.join(sorted(set(users)))}" for line, users in problems.items()]


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.+-]", version))


def check_pins(cursor: Any, pins: Sequence[PackagePin]) -> None:
    """Raise PackagePinMissing, saying what to do, if the channel lacks a pin."""
    if not pins:
        return
    query, binds = packages_query(pins)
    cursor.execute(query, binds)
    problems = missing_pins(pins, cursor.fetchall())
    if problems:
        raise PackagePinMissing("; ".join(problems) + f". {FALLBACK}")


def terms_refusal(error: BaseException, where: str) -> AnacondaTermsNotAccepted | None:
    """A CREATE refused for the Anaconda terms, as the error to stop with (None for any other error)."""
    if not ANACONDA_TERMS.search(str(error)):
        return None
    return AnacondaTermsNotAccepted(
        f"{where}: Snowflake refused the Anaconda packages ({error}). An ORGADMIN must accept the"
        " Snowflake Third Party Terms first (Snowsight: Admin > Billing & Terms > Anaconda; docs:"
        " developer-guide/udf/python/udf-python-packages, 'Getting started'): the deploy checklist's"
        " prerequisite (README; docs/snowflake.md). Then apply again."
    )


class PinCheck:
    """Checks every pin once, before the first Python object of an apply runs."""

    def __init__(self, statements_pins: Iterable[PackagePin]) -> None:
        self.pins = [*statements_pins, *publishing_pins()]
        self.done = False

    @classmethod
    def of(cls, statements: Iterable[Any]) -> PinCheck:
        return cls(pin for statement in statements for pin in statement_pins(statement.text, statement.where))

    def before(self, statement: Any, cursor: Any) -> None:
        if self.done or not PYTHON_OBJECT.match(statement.text.split("$$", 1)[0]):
            return
        check_pins(cursor, self.pins)
        self.done = True
