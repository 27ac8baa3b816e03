"""PrepareRun: validate the execution input and the manifest, then plan the run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from snowsage.errors import InvalidExecutionInput
from snowsage.manifest import check_manifest, read_manifest, verify_files, verify_first_rows
from snowsage.model_settings import resolve_scoring_engine, resolve_training_engine
from snowsage.models import ExecutionInput, PrepareRunRequest, RunPlan, validation_problems
from snowsage.names import ManifestLocation
from snowsage.plan import build_run_plan
from snowsage.s3 import ObjectStore
from snowsage.script_mode import plan_script
from snowsage.settings import PrepareRunSettings
from snowsage.warm_start import WarmStartSources


def parse_execution_input(document: dict[str, Any]) -> ExecutionInput:
    try:
        return ExecutionInput.model_validate(document)
    except ValidationError as error:
        raise InvalidExecutionInput(f"execution input rejected: {validation_problems(error)}") from error


def prepare_run(
    request: PrepareRunRequest,
    settings: PrepareRunSettings,
    store: ObjectStore,
    now: datetime | None = None,
    warm_start_sources: WarmStartSources | None = None,
) -> RunPlan:
    execution_input = parse_execution_input(request.input)
    location = ManifestLocation.from_uri(execution_input.manifest)
    if location.bucket != settings.bucket_name:
        raise InvalidExecutionInput(
            f"manifest bucket {location.bucket!r} is not this pipeline's bucket {settings.bucket_name!r}"
        )
    manifest = read_manifest(location, store)
    # The engines decide the sections: a SNOWFLAKE export holds no train/validation, or no score
    # (docs/contracts.md).
    engine, _ = resolve_training_engine(location.dataset, manifest.model, execution_input)
    scoring_engine, _ = resolve_scoring_engine(location.dataset, manifest.model, execution_input)
    sections = check_manifest(manifest, location, execution_input.mode, engine, scoring_engine)
    first_keys = verify_files(location, sections, store)
    verify_first_rows(location, sections, first_keys, store)
    return build_run_plan(
        execution_name=request.execution_name,
        request=execution_input,
        manifest=manifest,
        sections=sections,
        location=location,
        settings=settings,
        now=now or datetime.now(UTC),
        image_uri=request.xgboost_image_uri,
        find_script=lambda path, where: plan_script(
            dataset=location.dataset, path=path, where=where, bucket=location.bucket, store=store
        ),
        warm_start_sources=warm_start_sources,
    )
