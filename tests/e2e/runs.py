"""A run of a fresh export started by hand with its own hyperparameters (shared by e2e modules)."""

from __future__ import annotations

from sandbox import pipeline_run
from sandbox.services import Sandbox


def run_export_by_hand(
    sandbox: Sandbox, dataset: str, export_id: str, hyperparameters: dict[str, str]
) -> pipeline_run.RunResult:
    """Export ``dataset`` as ``export_id`` (its event held back), run it by hand; it must succeed."""
    document = {"manifest": f"s3://{sandbox.bucket}/exports/{dataset}/{export_id}/manifest.json"}
    manifest = pipeline_run.export_for_input(sandbox, document)
    result = pipeline_run.start_by_hand(
        sandbox,
        {**document, "hyperparameters": hyperparameters},
        name=f"{dataset}-{export_id}",
        manifest=manifest,
    )
    assert result.status == "SUCCEEDED", result.execution.cause
    return result
