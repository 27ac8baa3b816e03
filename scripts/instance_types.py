"""Generate (or check) the instance-type lists: snowsage/instance_types.py and template.yaml.

Per job kind, the families AWS documents for built-in XGBoost (``snowsage.instance_types
.documented_for``) intersected with botocore's TrainingInstanceType / TransformInstanceType /
ProductionVariantInstanceType enums. The core module holds the lists (PrepareRun checks the
execution input's overrides with them); the template's TrainingInstanceType /
TransformInstanceType / EndpointInstanceType parameters get the same lists as AllowedValues, so a
deploy refuses the rest. tests/template/ runs this with ``--check``.

    python scripts/instance_types.py          # rewrite both blocks
    python scripts/instance_types.py --check  # exit 1 when either is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

import botocore.session

from snowsage.instance_types import documented_for

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
CORE = ROOT / "layers" / "common" / "snowsage" / "instance_types.py"

BEGIN = "# BEGIN GENERATED {name} (scripts/instance_types.py)"
END = "# END GENERATED {name}"
# job kind -> botocore enum (and template parameter) name; "endpoint": a real-time endpoint's instances
KINDS = {
    "training": "TrainingInstanceType",
    "transform": "TransformInstanceType",
    "endpoint": "ProductionVariantInstanceType",
}
PARAMETERS = {
    "training": "TrainingInstanceType",
    "transform": "TransformInstanceType",
    "endpoint": "EndpointInstanceType",
}
TEMPLATE_WIDTH = 110  # characters of instance types a template line holds


def _size_key(instance_type: str) -> tuple[str, int, str]:
    _, family, size = instance_type.split(".")
    number = re.match(r"\d*", size)
    return family, int(number.group() or 0) if number else 0, size


def instance_types(kind: str) -> list[str]:
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(KINDS[kind])
    enum: list[str] = getattr(shape, "enum", [])
    return sorted((value for value in enum if documented_for(kind, value.split(".")[1])), key=_size_key)


def _replace(text: str, name: str, lines: list[str]) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(rf"^([ \t]*){re.escape(begin)}\n.*?^[ \t]*{re.escape(end)}$", re.S | re.M)
    match = pattern.search(text)
    if not match:
        raise SystemExit(f"marker {begin!r} not found")
    indent = match.group(1)
    body = "\n".join(f"{indent}{line}" if line else "" for line in lines)
    return text[: match.start()] + f"{indent}{begin}\n{body}\n{indent}{end}" + text[match.end() :]


def generate_core(text: str) -> str:
    lines = []
    for kind in KINDS:
        lines.append(f"{kind.upper()}_INSTANCE_TYPES: tuple[str, ...] = (")
        lines += [f'    "{value}",' for value in instance_types(kind)]
        lines.append(")")
    return _replace(text, "instance-types", lines)


def generate_template(text: str) -> str:
    """AllowedValues in YAML's flow style, wrapped: the same list, a few lines instead of one a type."""
    for kind, parameter in PARAMETERS.items():
        values = textwrap.wrap(", ".join(instance_types(kind)), width=TEMPLATE_WIDTH, break_on_hyphens=False)
        text = _replace(text, parameter, ["AllowedValues: [", *(f"  {line}" for line in values), "]"])
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, generate in ((CORE, generate_core), (TEMPLATE, generate_template)):
        text = path.read_text(encoding="utf-8")
        new = generate(text)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (run python scripts/instance_types.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
