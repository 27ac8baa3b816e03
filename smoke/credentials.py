"""What a real smoke needs before it touches anything: AWS credentials and region, a Snowflake
key-pair login (as snowsage_setup/apply.py reads it), and the SAM CLI. Reading them calls no service."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from snowsage_setup.apply import REQUIRED_ENV

SAM_IN_VENV = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "sam"
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
# The regions template.yaml maps the built-in XGBoost image for (its generated XGBoostImageRegistry).
_REGISTRY = re.compile(r"BEGIN GENERATED xgboost-registry.*?END GENERATED xgboost-registry", re.S)
_REGION = re.compile(r"\b([a-z]{2}(?:-[a-z]+)+-\d):\s*\{Account:")

NEEDS = """\
make smoke deploys a throwaway stack into a real AWS account and a throwaway database into a real
Snowflake account, runs the pipeline once, and deletes all of it (docs/smoke.md). It needs:
  AWS        credentials boto3 can find (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, …)
             and a region (AWS_REGION or the profile's region); permissions in docs/smoke.md
  Snowflake  SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER (holding ACCOUNTADMIN), SNOWFLAKE_PRIVATE_KEY_PATH
             (PEM, PKCS#8; SNOWFLAKE_PRIVATE_KEY_PASSPHRASE if encrypted); key-pair only, no
             SNOWFLAKE_PASSWORD
  SAM CLI    `sam` (make venv installs it in .venv/bin)"""


@dataclass(frozen=True)
class Requirements:
    missing: list[str]

    @property
    def met(self) -> bool:
        return not self.missing


def check_requirements(
    env: Mapping[str, str],
    session_factory: Callable[[], Any] = boto3.Session,
    which: Callable[[str], str | None] = shutil.which,
) -> Requirements:
    """Everything a real run needs that is absent, in words (an empty list: go)."""
    missing: list[str] = []
    session = session_factory()
    if session.get_credentials() is None:
        missing.append("AWS credentials (none found by boto3)")
    if not session.region_name:
        missing.append("an AWS region (AWS_REGION, or a region in the profile)")
    elif session.region_name not in supported_regions():
        regions = ", ".join(supported_regions())
        missing.append(
            f"a region the template supports, not {session.region_name}: one of {regions}"
            " (template.yaml, XGBoostImageRegistry)"
        )
    absent = [name for name in REQUIRED_ENV if not env.get(name)]
    if absent:
        missing.append(f"Snowflake: {', '.join(absent)}")
    key_path = env.get("SNOWFLAKE_PRIVATE_KEY_PATH")
    if key_path and not Path(key_path).is_file():
        missing.append(f"Snowflake: SNOWFLAKE_PRIVATE_KEY_PATH {key_path} is not a file")
    if env.get("SNOWFLAKE_PASSWORD"):
        missing.append("Snowflake: unset SNOWFLAKE_PASSWORD (key-pair authentication only)")
    if sam_command(which) is None:
        missing.append("the SAM CLI (`sam`; make venv installs it)")
    return Requirements(missing)


def sam_command(which: Callable[[str], str | None] = shutil.which) -> str | None:
    if SAM_IN_VENV.is_file():
        return str(SAM_IN_VENV)
    return which("sam")


def supported_regions() -> list[str]:
    """The regions template.yaml maps the built-in XGBoost image for: where the stack deploys."""
    block = _REGISTRY.search(TEMPLATE.read_text())
    return sorted(_REGION.findall(block.group(0))) if block else []
