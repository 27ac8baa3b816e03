"""Reading and checking an export manifest (docs/contracts.md, "Manifest").

``parse_manifest`` and ``check_manifest`` are pure; ``verify_files`` compares the manifest
with what S3 really holds. Each broken rule raises its own error with the section, file or
column at fault, so a failed run says exactly what to fix in Snowflake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pydantic import ValidationError

from snowsage.errors import (
    ColumnMismatch,
    ExportFileEmpty,
    ExportFileMissing,
    ExportFileUnlisted,
    ExportSizeMismatch,
    InvalidExecutionInput,
    ManifestError,
    ManifestSchemaError,
    ManifestVersionError,
    PermanentError,
)
from snowsage.models import (
    TRAINING_ENGINES,
    ExportFile,
    Manifest,
    ManifestSection,
    Mode,
    ScoringEngine,
    ScoringView,
    SectionName,
    TrainingEngine,
    validation_problems,
)
from snowsage.names import (
    ManifestLocation,
    validate_dataset,
    validate_export_id,
    validate_snowflake_identifier,
)
from snowsage.s3 import ObjectStore

SUPPORTED_VERSIONS = (1, 2)  # 2 adds model, label_summary, predictions_columns, sections' summaries
MAX_MANIFEST_BYTES = 1024 * 1024


def parse_manifest(raw: bytes) -> Manifest:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(raw)} bytes; at most {MAX_MANIFEST_BYTES} are read")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestSchemaError(f"manifest is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ManifestSchemaError(f"manifest must be a JSON object, not {type(document).__name__}")
    version = document.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ManifestVersionError(
            f"manifest version {version!r} is not supported"
            f" (this pipeline reads versions {SUPPORTED_VERSIONS})"
        )
    try:
        return Manifest.model_validate(document)
    except ValidationError as error:
        problems = validation_problems(error, root="manifest")
        raise ManifestSchemaError(f"manifest does not match version {version}: {problems}") from error


SECTION_NAMES: tuple[SectionName, ...] = ("train", "validation", "score")
ENGINES = TRAINING_ENGINES  # the values TRAINING_ENGINE and SCORING_ENGINE take


def exported_sections(
    row_engine: str | None, row_scoring_engine: str | None = None
) -> tuple[SectionName, ...]:
    """What EXPORT_DATASET writes for a row's TRAINING_ENGINE and SCORING_ENGINE (named in ``engine``
    and ``scoring_engine``): a SNOWFLAKE engine works on the view, so its rows are not unloaded; any
    other value (NULL: SAGEMAKER) gets its sections."""
    training: tuple[SectionName, ...] = () if row_engine == "SNOWFLAKE" else ("train", "validation")
    scoring: tuple[SectionName, ...] = () if row_scoring_engine == "SNOWFLAKE" else ("score",)
    return (*training, *scoring)


def _required_sections(
    mode: Mode, engine: TrainingEngine, scoring_engine: ScoringEngine
) -> tuple[SectionName, ...]:
    """SageMaker trains and scores on the export's files; the SNOWFLAKE engines on the views."""
    training: tuple[SectionName, ...] = (
        ("train", "validation") if mode == "train_and_score" and engine == "SAGEMAKER" else ()
    )
    return (*training, *(("score",) if scoring_engine == "SAGEMAKER" else ()))


def present_sections(manifest: Manifest) -> tuple[SectionName, ...]:
    """The sections the manifest holds; its ``sections`` list (version 2), when given, must say the same."""
    present = tuple(name for name in SECTION_NAMES if getattr(manifest, name) is not None)
    if manifest.sections is not None and sorted(manifest.sections) != sorted(present):
        raise ManifestSchemaError(f"manifest lists sections {manifest.sections} but holds {list(present)}")
    return present


def _check_engines(manifest: Manifest) -> None:
    """``engine`` and ``scoring_engine`` are the row's TRAINING_ENGINE and SCORING_ENGINE as the
    export resolved them (NULL: SAGEMAKER)."""
    if manifest.model is None:
        return
    for key, column, written in (
        ("engine", "training_engine", manifest.model.training_engine),
        ("scoring_engine", "scoring_engine", manifest.model.scoring_engine),
    ):
        resolved = getattr(manifest, key)
        row = written or "SAGEMAKER"
        if resolved is not None and row in ENGINES and row != resolved:
            raise ManifestSchemaError(f"manifest {key} {resolved!r} differs from its model.{column} {row!r}")


def _missing_section(manifest: Manifest, name: str, mode: Mode, engine: TrainingEngine) -> PermanentError:
    if name == "score":
        if manifest.scoring_engine == "SNOWFLAKE":
            # The export left the scoring rows in Snowflake: only ML_PREDICT_<DATASET> can score them.
            return InvalidExecutionInput(
                f"execution input 'scoring_engine' 'SAGEMAKER': export {manifest.export_id} of"
                f" {manifest.dataset} was written for the SNOWFLAKE scoring engine and has no 'score'"
                " section (its scoring rows stayed in Snowflake), so there is nothing to score in S3;"
                " drop the override, or set ML_DATASETS.SCORING_ENGINE to 'SAGEMAKER' and export again"
            )
        return ManifestSchemaError(
            "manifest has no 'score' section, which the SAGEMAKER scoring engine needs"
            " (only an export for SCORING_ENGINE = 'SNOWFLAKE' leaves it out)"
        )
    written_for = manifest.engine or "SAGEMAKER"
    if written_for == "SNOWFLAKE":
        # The export left the training rows in Snowflake: only TRAIN_MODEL can train on them.
        return InvalidExecutionInput(
            f"execution input 'training_engine' {engine!r}: export {manifest.export_id} of"
            f" {manifest.dataset} was written for the SNOWFLAKE engine and has no '{name}' section"
            " (its training rows stayed in Snowflake), so there is nothing to train on in S3; drop"
            " the override, or set ML_DATASETS.TRAINING_ENGINE to 'SAGEMAKER' and export again"
        )
    return ManifestSchemaError(
        f"manifest has no '{name}' section, which mode {mode} on the {engine} engine needs"
        " (only an export for TRAINING_ENGINE = 'SNOWFLAKE' leaves train and validation out)"
    )


def sections_for(
    manifest: Manifest,
    mode: Mode,
    engine: TrainingEngine = "SAGEMAKER",
    scoring_engine: ScoringEngine = "SAGEMAKER",
) -> dict[str, ManifestSection]:
    """The sections to check: those the mode and engines need (each must be there); in
    train_and_score also train and validation when the SNOWFLAKE engine finds them (an older
    export wrote them: it promises their files and their columns must match score's). The
    SNOWFLAKE scoring engine reads no score file: a score section is then not listed."""
    _check_engines(manifest)
    present = present_sections(manifest)
    for name in _required_sections(mode, engine, scoring_engine):
        if name not in present:
            raise _missing_section(manifest, name, mode, engine)
    used: tuple[SectionName, ...] = (("train", "validation") if mode == "train_and_score" else ()) + (
        ("score",) if scoring_engine == "SAGEMAKER" else ()
    )
    return {name: section for name in used if name in present and (section := getattr(manifest, name))}


def scoring_view(manifest: Manifest, scoring_engine: ScoringEngine) -> ScoringView | None:
    """The scoring view the SNOWFLAKE scoring engine scores, checked: a plain identifier (it is inlined
    in the scoring statement) with rows to score. None on SAGEMAKER, which scores the score files."""
    if scoring_engine != "SNOWFLAKE":
        return None
    view = manifest.scoring_view
    if view is None:
        raise _no_scoring_view(manifest)
    validate_snowflake_identifier(view.name, "scoring_view.name")
    for column in view.columns:
        validate_snowflake_identifier(column, "scoring_view column")
    if view.rows <= 0:
        raise ExportFileEmpty(f"scoring view {view.name} has {view.rows} rows; an export needs at least one")
    return view


def _no_scoring_view(manifest: Manifest) -> PermanentError:
    if manifest.scoring_engine == "SNOWFLAKE":
        return ManifestSchemaError(
            "manifest has no 'scoring_view', which an export for SCORING_ENGINE = 'SNOWFLAKE' writes"
        )
    return InvalidExecutionInput(
        f"execution input 'scoring_engine' 'SNOWFLAKE': export {manifest.export_id} of"
        f" {manifest.dataset} names no scoring view (EXPORT_DATASET wrote it before scoring in"
        " Snowflake existed); apply setup/30_export_procedure.sql and export again"
    )


def _check_section(name: str, section: ManifestSection, location: ManifestLocation) -> None:
    expected_prefix = f"{location.prefix}{name}/"
    if section.prefix != expected_prefix:
        raise ManifestSchemaError(f"{name}.prefix is {section.prefix!r}; expected {expected_prefix!r}")
    if section.file_count == 0:
        raise ExportFileEmpty(f"{name} lists no files")
    if section.rows <= 0:
        raise ExportFileEmpty(f"{name} has {section.rows} rows; an export needs at least one")
    listed = section.file_list
    if listed is None:
        _check_summary(name, section)
    else:
        _check_file_list(name, section, listed)
    for column in section.columns:
        validate_snowflake_identifier(column, f"{name} column")


def _check_summary(name: str, section: ManifestSection) -> None:
    """Version 2's summary: every file holds at least one row, so at least one byte."""
    if section.total_bytes is None:
        raise ManifestSchemaError(
            f"{name} counts {section.file_count} files but gives no 'bytes' (their total size)"
        )
    if section.rows < section.file_count or section.total_bytes < section.file_count:
        raise ExportFileEmpty(
            f"{name} counts {section.file_count} files but only {section.rows} rows and"
            f" {section.total_bytes} bytes: at least one file is empty"
        )


def _check_file_list(name: str, section: ManifestSection, listed: list[ExportFile]) -> None:
    """Version 1's per-file list: under the prefix, none empty, adding up to the section."""
    rows = sum(item.rows for item in listed)
    if rows != section.rows:
        raise ManifestSchemaError(f"{name}.rows is {section.rows} but its files add up to {rows}")
    size = sum(item.size for item in listed)
    if section.total_bytes is not None and size != section.total_bytes:
        raise ManifestSchemaError(f"{name}.bytes is {section.total_bytes} but its files add up to {size}")
    for item in listed:
        if not item.key.startswith(section.prefix):
            raise ManifestSchemaError(f"{name} file {item.key!r} is not under {section.prefix!r}")
        if item.rows == 0 or item.size == 0:
            raise ExportFileEmpty(f"{name} file {item.key!r} is empty (rows={item.rows}, size={item.size})")


def check_manifest(
    manifest: Manifest,
    location: ManifestLocation,
    mode: Mode,
    engine: TrainingEngine = "SAGEMAKER",
    scoring_engine: ScoringEngine = "SAGEMAKER",
) -> dict[str, ManifestSection]:
    """Every rule that needs no I/O. Returns the sections to verify (see ``sections_for``)."""
    if validate_dataset(manifest.dataset) != location.dataset:
        raise ManifestSchemaError(f"manifest dataset {manifest.dataset!r} != {location.dataset!r} in its key")
    if validate_export_id(manifest.export_id) != location.export_id:
        raise ManifestSchemaError(
            f"manifest export_id {manifest.export_id!r} != {location.export_id!r} in its key"
        )
    id_column = validate_snowflake_identifier(manifest.id_column, "id_column")
    label_column = validate_snowflake_identifier(manifest.label_column, "label_column")
    validate_snowflake_identifier(manifest.predictions_table, "predictions_table")
    sections = sections_for(manifest, mode, engine, scoring_engine)
    for name, section in sections.items():
        _check_section(name, section, location)
    view = scoring_view(manifest, scoring_engine)
    scored = view.columns if view is not None else sections["score"].columns
    score_columns = [column.upper() for column in scored]
    if score_columns[0] != id_column:
        raise ColumnMismatch(f"score's first column is {score_columns[0]!r}; expected the id {id_column!r}")
    for name in ("train", "validation"):
        if name not in sections:
            continue
        columns = [column.upper() for column in sections[name].columns]
        if columns[0] != label_column:
            raise ColumnMismatch(
                f"{name}'s first column is {columns[0]!r}; expected the label {label_column!r}"
            )
        if columns[1:] != score_columns[1:]:
            raise ColumnMismatch(
                f"{name} features {columns[1:]} differ from score features {score_columns[1:]}"
                " (same features, same order)"
            )
    return sections


def verify_files(
    location: ManifestLocation, sections: dict[str, ManifestSection], store: ObjectStore
) -> dict[str, str]:
    """S3 holds what each section says; returns each section's first data file (in key order).

    One paged listing per section (ListObjectsV2, 1,000 keys a call), walked without keeping it:
    no request per file, and memory that does not grow with the number of files.
    """
    first_keys: dict[str, str] = {}
    for name, section in sections.items():
        walk = store.iter_sizes(location.bucket, section.prefix)
        listed = section.file_list
        first = (
            _verify_summary(name, section, walk, location.bucket)
            if listed is None
            else _verify_listed(name, listed, walk, location.bucket)
        )
        first_keys[name] = first
    return first_keys


def _verify_summary(name: str, section: ManifestSection, walk: Iterator[tuple[str, int]], bucket: str) -> str:
    """The prefix's files against the section's count and bytes: none empty, none missing, none more."""
    where = f"s3://{bucket}/{section.prefix}"
    count = total = 0
    first = ""
    for key, size in walk:
        if size == 0:
            raise ExportFileEmpty(f"{name} file s3://{bucket}/{key} is empty in S3")
        count += 1
        total += size
        first = first or key
    if count < section.file_count:
        raise ExportFileMissing(
            f"{name}: the manifest counts {section.file_count} files but {where} holds {count}:"
            f" {section.file_count - count} missing"
        )
    if count > section.file_count:
        raise ExportFileUnlisted(
            f"{name}: the manifest counts {section.file_count} files but {where} holds {count}:"
            f" {count - section.file_count} not in the export (remove them or export again)"
        )
    if total != section.total_bytes:
        raise ExportSizeMismatch(
            f"{name}: the manifest gives {section.total_bytes} bytes but the {count} files under"
            f" {where} hold {total} (a file was changed or replaced after the export)"
        )
    return first


def _verify_listed(name: str, listed: list[ExportFile], walk: Iterator[tuple[str, int]], bucket: str) -> str:
    """Version 1: every listed file exists with a non-zero size."""
    wanted = {item.key for item in listed}
    present: dict[str, int] = {key: size for key, size in walk if key in wanted}
    for item in listed:
        size = present.get(item.key)
        if size is None:
            raise ExportFileMissing(f"{name} file s3://{bucket}/{item.key} is listed but missing")
        if size == 0:
            raise ExportFileEmpty(f"{name} file s3://{bucket}/{item.key} is empty in S3")
    return listed[0].key


def read_manifest(location: ManifestLocation, store: ObjectStore) -> Manifest:
    return parse_manifest(store.read_bytes(location.bucket, location.key, MAX_MANIFEST_BYTES))


SAMPLE_BYTES = 64 * 1024


def _first_line(head: bytes) -> str:
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def verify_first_rows(
    location: ManifestLocation,
    sections: dict[str, ManifestSection],
    first_keys: dict[str, str],
    store: ObjectStore,
) -> None:
    """The first row of each section's first file has the manifest's columns and a numeric label.

    A ranged read of at most 64 KiB per section: enough to catch a schema that drifted between
    the views and the manifest without moving data through the Lambda.
    """
    for name, section in sections.items():
        first = first_keys[name]
        line = _first_line(store.read_head(location.bucket, first, SAMPLE_BYTES))
        fields = line.split(",")
        if len(fields) != len(section.columns):
            raise ColumnMismatch(
                f"{name} file {first!r} has {len(fields)} columns in its first row;"
                f" the manifest lists {len(section.columns)} ({', '.join(section.columns)})"
            )
        if name != "score" and not _is_number(fields[0]):
            raise ColumnMismatch(
                f"{name} file {first!r} has a non-numeric label {fields[0]!r} in its first row"
            )
        if name == "score" and not fields[0].strip().strip('"'):
            raise ColumnMismatch(f"score file {first!r} has an empty id in its first row")
