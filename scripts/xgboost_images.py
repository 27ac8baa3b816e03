"""Generate (or check) the XGBoost image blocks of template.yaml from sagemaker-core's data.

The built-in XGBoost image is ``<account>.dkr.ecr.<region>.<url suffix>/sagemaker-xgboost:<version>``;
the account differs per region. CloudFormation cannot call the SageMaker SDK, so the template
carries the accounts as a Mappings table (``XGBoostImageRegistry``) and the supported versions as
the ``XGBoostVersion`` parameter's AllowedValues. Both blocks sit between marker comments in
template.yaml and are written by this script from ``sagemaker/core/image_uri_config/xgboost.json``
(the file ``sagemaker.core.image_uris.retrieve`` reads). tests/template/ runs it with ``--check``.

    python scripts/xgboost_images.py          # rewrite the blocks in template.yaml
    python scripts/xgboost_images.py --check  # exit 1 when template.yaml is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
REPOSITORY = "sagemaker-xgboost"
# Versions older than this are not offered: the pipeline is tested against 1.7-1 and later
# (the hyperparameters, metrics and batch-transform contracts of SANDBOX.md).
MIN_VERSION = (1, 7, 1)
SCOPES = ("training", "inference")  # the same image trains (Train) and serves (Score)
MAPPING_NAME = "XGBoostImageRegistry"
MAPPING_KEY = "Account"

MAPPING_WIDTH = 110  # characters of regions a template line holds
BEGIN = "# BEGIN GENERATED {name} (scripts/xgboost_images.py)"
END = "# END GENERATED {name}"


def load_config() -> dict[str, Any]:
    source = resources.files("sagemaker.core.image_uri_config").joinpath("xgboost.json")
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return data


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[.-]", version))


def supported_versions(config: dict[str, Any]) -> list[str]:
    versions = config["training"]["versions"]
    chosen = [
        version
        for version, spec in versions.items()
        if spec.get("repository") == REPOSITORY
        and re.fullmatch(r"\d+\.\d+-\d+", version)
        and _version_key(version) >= MIN_VERSION
    ]
    return sorted(chosen, key=_version_key)


def registry_accounts(config: dict[str, Any], versions: list[str]) -> dict[str, str]:
    """Region -> registry account, the same for every supported version and scope.

    One account per region keeps the mapping a single column that ``!FindInMap`` reads with the
    region alone. If sagemaker-core ever gives a version or scope its own accounts, this fails
    loudly: the template then needs one column per version.
    """
    first = config["training"]["versions"][versions[0]]["registries"]
    for scope in SCOPES:
        for version in versions:
            spec = config[scope]["versions"][version]
            if spec["repository"] != REPOSITORY:
                raise SystemExit(f"{scope} {version}: repository {spec['repository']!r}")
            if spec["registries"] != first:
                raise SystemExit(
                    f"{scope} {version}: registry accounts differ from {versions[0]}; "
                    "give the mapping one column per version"
                )
    return {region: str(account) for region, account in sorted(first.items())}


def render_versions(versions: list[str], indent: str) -> list[str]:
    quoted = ", ".join(f'"{version}"' for version in versions)
    return [f"{indent}AllowedValues: [{quoted}]"]


def render_mapping(accounts: dict[str, str], indent: str) -> list[str]:
    """The mapping in YAML's flow style, a few regions a line (the same mapping, a sixth of the lines)."""
    entries = [f'{region}: {{{MAPPING_KEY}: "{account}"}}' for region, account in accounts.items()]
    lines: list[list[str]] = [[]]
    for entry in entries:
        if lines[-1] and len(", ".join([*lines[-1], entry])) + 1 > MAPPING_WIDTH:
            lines.append([])
        lines[-1].append(entry)
    body = [f"{indent}  {', '.join(line)}," for line in lines]
    body[-1] = body[-1].removesuffix(",")
    return [f"{indent}{MAPPING_NAME}: {{", *body, f"{indent}}}"]


def replace_block(text: str, name: str, render: Any) -> str:
    begin = BEGIN.format(name=name)
    end = END.format(name=name)
    pattern = re.compile(
        rf"^(?P<indent>[ ]*){re.escape(begin)}\n.*?^(?P=indent){re.escape(end)}$", re.M | re.S
    )
    match = pattern.search(text)
    if match is None:
        raise SystemExit(f"template.yaml has no '{begin}' ... '{end}' block")
    indent = match.group("indent")
    body = "\n".join([indent + begin, *render(indent), indent + end])
    return text[: match.start()] + body + text[match.end() :]


def generate(text: str, config: dict[str, Any]) -> str:
    versions = supported_versions(config)
    accounts = registry_accounts(config, versions)
    text = replace_block(text, "xgboost-versions", lambda indent: render_versions(versions, indent))
    return replace_block(text, "xgboost-registry", lambda indent: render_mapping(accounts, indent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if template.yaml is out of date")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    current = args.template.read_text(encoding="utf-8")
    updated = generate(current, load_config())
    if args.check:
        if updated != current:
            print(f"{args.template}: XGBoost image blocks are out of date; run scripts/xgboost_images.py")
            return 1
        return 0
    if updated != current:
        args.template.write_text(updated, encoding="utf-8")
        print(f"{args.template}: XGBoost image blocks updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
