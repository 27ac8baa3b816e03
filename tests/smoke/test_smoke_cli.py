"""`make smoke` without credentials: it says what it needs and exits 0, touching nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import pytest

from smoke.cli import main
from smoke.plan import Platform

ROOT = Path(__file__).resolve().parents[2]
SNOWFLAKE_ENV = {
    "SNOWFLAKE_ACCOUNT": "org-account",
    "SNOWFLAKE_USER": "ME",
}


class NoCredentials:
    region_name = None

    def get_credentials(self) -> None:
        return None


class Credentials:
    region_name = "eu-west-1"

    def get_credentials(self) -> object:
        return object()


def untouchable(env: Mapping[str, str], sam: str, out: TextIO) -> Platform:
    raise AssertionError("the smoke built a platform (it would touch the accounts)")


def _main(argv: list[str], env: dict[str, str], session: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        argv,
        env=env,
        session_factory=lambda: session,
        which=lambda _: "/usr/bin/sam",
        platform_factory=untouchable,
        out=out,
    )
    return code, out.getvalue()


def test_without_any_credentials_it_lists_them_and_exits_0() -> None:
    code, text = _main(["run"], {}, NoCredentials())
    assert code == 0
    assert "AWS credentials" in text
    assert "an AWS region" in text
    assert "SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PRIVATE_KEY_PATH" in text
    assert "Nothing was created" in text


def test_aws_alone_is_not_enough(tmp_path: Path) -> None:
    code, text = _main([], {}, Credentials())
    assert code == 0
    assert "AWS credentials" not in text
    assert "Snowflake: SNOWFLAKE_ACCOUNT" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SNOWFLAKE_PASSWORD": "x"}, "unset SNOWFLAKE_PASSWORD"),
        ({"SNOWFLAKE_PRIVATE_KEY_PATH": "/nonexistent/key.p8"}, "is not a file"),
    ],
)
def test_a_password_or_a_missing_key_file_is_refused_before_anything(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    key = tmp_path / "key.p8"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    env = {**SNOWFLAKE_ENV, "SNOWFLAKE_PRIVATE_KEY_PATH": str(key), **extra}
    code, text = _main(["run"], env, Credentials())
    assert code == 0
    assert message in text


def test_smoke_errors_needs_aws_only() -> None:
    code, text = _main(["errors"], {}, NoCredentials())
    assert code == 0
    assert "AWS credentials" in text
    assert "Snowflake:" not in text


def test_with_everything_it_builds_the_platform(tmp_path: Path) -> None:
    key = tmp_path / "key.p8"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    env = {**SNOWFLAKE_ENV, "SNOWFLAKE_PRIVATE_KEY_PATH": str(key)}
    with pytest.raises(AssertionError, match="built a platform"):
        _main(["run"], env, Credentials())


def test_python_m_smoke_without_credentials_exits_0(tmp_path: Path) -> None:
    """What `make smoke` runs (the venv's .pth finds the project, no PYTHONPATH), in a clean environment:
    no AWS profile, no Snowflake variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SNOWFLAKE_"))}
    env.update(
        {
            "HOME": str(tmp_path),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    process = subprocess.run(
        [sys.executable, "-m", "smoke", "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert "Missing:" in process.stdout
    assert "Nothing was created" in process.stdout


def test_a_region_the_template_does_not_map_is_said_before_anything_is_made() -> None:
    class Elsewhere(Credentials):
        region_name = "xx-nowhere-1"

    code, text = _main(["run"], {**SNOWFLAKE_ENV, "SNOWFLAKE_PRIVATE_KEY_PATH": __file__}, Elsewhere())
    assert code == 0
    assert "a region the template supports, not xx-nowhere-1: one of" in text
    assert "us-east-1" in text and "eu-west-1" in text
