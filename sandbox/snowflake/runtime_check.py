"""What Snowflake refuses in a Python function's or procedure's header, checked inside the runtime.

Imported by ``function_worker.py`` and ``procedure_worker.py``, which run as scripts under the
environment standing in for Snowflake's Python runtime: the script's own folder is their
``sys.path[0]``, so this module is imported there as ``runtime_check``. Standard library only, no
side effects at import.
"""

from __future__ import annotations

import importlib.metadata
import sys


def check_packages(runtime_version: str, packages: list[str]) -> None:
    """Refuse what Snowflake would refuse: another runtime, a package or version not installed.

    Docs: developer-guide/udf/python/udf-python-packages (PACKAGES names packages of the runtime's
    Anaconda channel, at an available version) and sql-reference/sql/create-function
    (RUNTIME_VERSION).
    """
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if runtime_version != running:
        raise ValueError(f"RUNTIME_VERSION {runtime_version!r}: the sandbox's Python runtime is {running}")
    for spec in packages:
        name, _, version = spec.partition("==")
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(f"package {spec!r} is not in the sandbox's Python runtime") from None
        if version and installed != version:
            raise ValueError(f"package {spec!r}: the sandbox's Python runtime has {name} {installed}")
