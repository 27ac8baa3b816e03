"""One way to find the project's code: the venv's snowsage-project.pth (Makefile, README "Development").

No package ``__init__``, CLI, script or test edits ``sys.path`` to find the project's own code. The
only edits allowed are those that stand in for Lambda: a child process given one function's
CodeUri and layer directories (the sandbox's Lambda runtime uses an import finder and never
touches ``sys.path``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (
    "sandbox",
    "bench",
    "smoke",
    "scripts",
    "snowsage_setup",
    "tooling",
    "functions",
    "layers",
    "tests",
)
# path relative to ROOT -> why it may edit sys.path
ALLOWED = {
    "tooling/import_child.py": "a fresh interpreter given one function's CodeUri + layers, as Lambda",
    "bench/replay_child.py": "a fresh interpreter given one function's CodeUri + layers, as Lambda",
    "scripts/sam_local/runtime/bootstrap.py": "the stand-in Lambda image's runtime: /var/task, /opt/python",
}
PATH_MUTATORS = frozenset({"append", "extend", "insert", "remove", "pop", "clear", "__setitem__"})


def _is_sys_path(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
    )


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    return []


def sys_path_edits(source: str) -> Iterator[int]:
    """Line numbers where ``source`` changes sys.path (or imports it to change it, or adds a site dir)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in PATH_MUTATORS and _is_sys_path(node.func.value):
                yield node.lineno
            if node.func.attr == "addsitedir":
                yield node.lineno
        for target in _targets(node):
            inner = target.value if isinstance(target, ast.Subscript) else target
            if _is_sys_path(inner):
                yield node.lineno
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "sys"
            and any(a.name == "path" for a in node.names)
        ):
            yield node.lineno


def python_files() -> list[Path]:
    return sorted(path for folder in SCANNED for path in (ROOT / folder).rglob("*.py") if path.is_file())


def test_the_scan_sees_every_form_of_edit() -> None:
    source = "\n".join(
        [
            "import sys, site",
            "sys.path.insert(0, 'x')",
            "sys.path.append('x')",
            "sys.path[:0] = ['x']",
            "sys.path = ['x']",
            "sys.path += ['x']",
            "site.addsitedir('x')",
            "from sys import path",
            "print(sys.path)",
        ]
    )
    assert sorted(set(sys_path_edits(source))) == [2, 3, 4, 5, 6, 7, 8]


def test_no_module_edits_sys_path_to_find_the_project() -> None:
    offenders = {
        f"{path.relative_to(ROOT)}:{line}"
        for path in python_files()
        if str(path.relative_to(ROOT)) not in ALLOWED
        for line in sys_path_edits(path.read_text(encoding="utf-8"))
    }
    assert not offenders, f"import the project through the venv's .pth instead: {sorted(offenders)}"


@pytest.mark.parametrize("relative", sorted(ALLOWED))
def test_each_allowed_edit_is_still_there(relative: str) -> None:
    assert list(sys_path_edits((ROOT / relative).read_text(encoding="utf-8"))), relative


def test_the_makefile_writes_one_pth_naming_the_root_and_the_common_layer() -> None:
    """The lines the venv step writes, as make would run them (dry run: nothing is written)."""
    done = subprocess.run(
        ["make", "--always-make", "--dry-run", ".venv/.installed-project-path"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}},
        capture_output=True,
        text=True,
        check=True,
    )
    written = [line for line in done.stdout.splitlines() if ".pth" in line]
    assert len(written) == 1, done.stdout
    assert f'"{ROOT}" "{ROOT}/layers/common"' in written[0]
    assert "snowsage-project.pth" in written[0]


def test_the_code_is_importable_without_a_path_setting_of_its_own() -> None:
    """A fresh interpreter (no pytest pythonpath) imports every top-level package of the project."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sandbox.cli, bench.coldstart, smoke.cli, snowsage_setup.apply, snowsage.models",
        ],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
