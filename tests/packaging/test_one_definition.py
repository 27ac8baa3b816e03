"""One definition of what several places need: a scan of the project's Python for second copies."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.packaging.test_import_paths import ROOT, SCANNED

THIS_FILE = Path(__file__).resolve()
# Grammar literals (regular expressions) and where their one definition lives.
GRAMMARS = {
    "[A-Za-z_][A-Za-z0-9_$]": "layers/common/snowsage/names.py",  # a Snowflake identifier
    "[a-z0-9]+(?:_[a-z0-9]+)*": "layers/common/snowsage/names.py",  # a dataset name
}


def python_files() -> list[Path]:
    found = (path for folder in SCANNED for path in (ROOT / folder).rglob("*.py"))
    return sorted(path for path in found if path.is_file() and path.resolve() != THIS_FILE)


def test_one_fake_lambda_context() -> None:
    """Every runner of handlers (sandbox runtime, sam local stand-in, bench child) shares one class."""
    defining = sorted(
        str(path.relative_to(ROOT))
        for path in python_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(item, ast.FunctionDef) and item.name == "get_remaining_time_in_millis"
            for item in node.body
        )
    )
    assert defining == ["sandbox/aws/lambda_context.py"]


def test_each_grammar_is_written_once() -> None:
    for literal, home in GRAMMARS.items():
        places = sorted(
            str(path.relative_to(ROOT))
            for path in python_files()
            if literal in path.read_text(encoding="utf-8")
        )
        assert places == [home], literal
