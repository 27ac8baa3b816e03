"""Write events/<function>/*.json from what the reference runs really handed each function.

    .venv/bin/python scripts/refresh_events.py

Run it after changing a state's Parameters in statemachines/pipeline.asl.json; the
statemachine/ inputs are written by hand (they are what people type into the console).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.aws import moto_patches
from sandbox.reference_runs import run_reference
from sandbox.services import Sandbox

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
# (logical id, which invocation, file name): "first" success of the reference run, or the failed run.
WANTED = (
    ("StartPipelineFunction", "succeeded", "start_pipeline/manifest_created.json"),
    ("PrepareRunFunction", "succeeded", "prepare_run/train_and_score.json"),
    ("EvaluateModelFunction", "succeeded", "evaluate_model/candidate.json"),
    ("SelectModelFunction", "succeeded", "select_model/promoted_model.json"),
    ("RegisterModelFunction", "succeeded", "register_model/candidate.json"),
    ("LoadPredictionsFunction", "succeeded", "load_predictions/load.json"),
    ("RecordRunFunction", "succeeded", "record_run/succeeded.json"),
    ("RecordRunFunction", "failed", "record_run/failed.json"),
    ("RecordExecutionOutcomeFunction", "failed", "record_execution_outcome/failed_handled.json"),
)


def as_lambda_sees_it(text: str) -> str:
    """Paths in stack traces as they read on Lambda: layers under /opt/python, code in /var/task."""
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), None)
    if site is not None:
        text = text.replace(str(site), "/opt/python")
    text = text.replace(str(ROOT / "layers" / "common"), "/opt/python")
    for function in (ROOT / "functions").iterdir():
        text = text.replace(str(function), "/var/task")
    return text


def main() -> None:
    with Sandbox() as sandbox:
        runs = run_reference(sandbox)
        moto_patches.wait_for_event_deliveries()  # the status change events' targets
        names = {physical: logical for logical, physical in sandbox.deployed.functions.items()}
        failed_name = runs.failed.execution.name
        chosen: dict[str, Any] = {}
        for invocation in sandbox.runtime.invocations if sandbox.runtime else []:
            logical = names.get(invocation.function)
            event = invocation.event
            in_failed_run = isinstance(event, dict) and failed_name in (
                event.get("execution_name"),
                (event.get("detail") or {}).get("name"),  # a Step Functions status change event
            )
            for wanted_logical, run, path in WANTED:
                if wanted_logical == logical and (run == "failed") == in_failed_run and path not in chosen:
                    chosen[path] = event
        for path, event in chosen.items():
            target = EVENTS / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(as_lambda_sees_it(json.dumps(event, indent=2, sort_keys=True)) + "\n")
            print(f"wrote {target.relative_to(EVENTS.parent)}")
        missing = {path for _, _, path in WANTED} - chosen.keys()
        if missing:
            raise SystemExit(f"no invocation seen for {sorted(missing)}")


if __name__ == "__main__":
    main()
