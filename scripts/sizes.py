"""Report each function's unzipped deployment size (code + layers) from a `sam build` output.

Lambda counts a function's unzipped code plus all its layers against one 250 MB quota; the
project keeps far tighter budgets so cold starts stay short. Sizes include the .pyc files the
layer builds ship (the bytes Lambda really extracts).

    python scripts/sizes.py [--build-dir .aws-sam/build]   # exit 1 when a function is over budget
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tooling.template import Template, read

MB = 1_000_000
SNOWFLAKE_LAYER = "SnowflakeLayer"
BUDGET_MB = {"snowflake": 60, "default": 25}


def tree_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def report(build_dir: Path) -> tuple[list[tuple[str, int, int, int, int]], bool]:
    template: Template = read(build_dir / "template.yaml")
    rows: list[tuple[str, int, int, int, int]] = []
    ok = True
    for name, function in template.functions.items():
        layer_bytes = sum(tree_size(folder) for folder in template.layer_dirs(name))
        code_bytes = tree_size(function.code_dir)
        budget = BUDGET_MB["snowflake" if SNOWFLAKE_LAYER in function.layers else "default"]
        total = code_bytes + layer_bytes
        ok &= total <= budget * MB
        rows.append((name, code_bytes, layer_bytes, total, budget))
    return rows, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    args = parser.parse_args(argv)
    rows, ok = report(args.build_dir)
    print(f"{'function':<28}{'code MB':>10}{'layers MB':>11}{'total MB':>10}{'budget MB':>11}")
    for name, code, layers, total, budget in rows:
        flag = "" if total <= budget * MB else "  OVER BUDGET"
        print(f"{name:<28}{code / MB:>10.2f}{layers / MB:>11.2f}{total / MB:>10.2f}{budget:>11}{flag}")
    if not rows:
        print(f"no functions in {args.build_dir / 'template.yaml'}")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
