"""PublishModel: a promoted model becomes ``ML_PREDICT_<DATASET>``, a Python function in Snowflake.

Three statements, in this order, so that a failure never leaves a broken function:

1. ``COPY FILES`` copies ``model.tar.gz`` from the external stage (the bucket) into the internal
   stage ``ML_MODELS_STAGE``, under a path of its own per dataset and model version. The bytes
   go S3 -> Snowflake; no Lambda touches them (docs: sql-reference/sql/copy-files: external stage
   -> internal named stage). A function imports from the internal copy, so analysts' queries
   depend neither on the bucket, its lifecycle rules nor the storage integration's IAM trust.
2. ``CREATE OR REPLACE FUNCTION … COPY GRANTS`` swaps the function in one DDL statement, only
   once its import is in place: if it fails, the earlier function is untouched. ``COPY GRANTS``
   keeps the analysts' USAGE (docs: sql-reference/sql/create-function).
3. ``MERGE INTO ML_MODELS``: the published version's row, written only once the function serves
   it, so ML_MODELS never names a version no function serves.

Every statement is idempotent: a retry after any partial attempt converges on the same state.

PublishForScoring (the SNOWFLAKE scoring engine) sends ``if_not_served``: the dataset's last
ML_MODELS row is read first, and a function that already serves the model is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from snowsage.errors import PublicationRefused
from snowsage.models import Problem, PublishedModel, PublishModelRequest
from snowsage.names import S3Uri, validate_snowflake_identifier
from snowsage.snowflake.connection import ConnectionFactory, Session, session

FUNCTION_PREFIX = "ML_PREDICT_"
MODELS_STAGE = "ML_MODELS_STAGE"
MODELS_TABLE = "ML_MODELS"
MODEL_ARCHIVE = "model.tar.gz"
HANDLER = "predict"
# Snowflake's Python runtime and the Anaconda packages the function runs with (docs/snowflake.md,
# "Scoring in SQL"). The xgboost pin follows the image that trained the model. Snowflake's channel
# carries 1.7.3. The 1.7-1 image (xgboost 1.7.4) writes `xgboost-model` in xgboost's legacy binary
# format, which 1.7.x reads and scores identically (3.1 and later cannot read it at all). The 3.0-5
# image (xgboost 3.0.5) writes UBJSON, which 1.7.3 reads and scores identically too (binary,
# regression and multi-class; tests/snowflake/test_python_functions.py). The 3.2-0 image (xgboost
# 3.2.0) writes its intercept as a vector (`base_score` "[…]"), which every xgboost before 3.1
# silently replaces by a default: no verified pin, so its models are refused with a clear error.
RUNTIME_VERSION = "3.11"
XGBOOST_FOR_IMAGE = {"1.7-1": "xgboost==1.7.3", "3.0-5": "xgboost==1.7.3"}
OTHER_PACKAGES = ("pandas",)
PACKAGES = (XGBOOST_FOR_IMAGE["1.7-1"], *OTHER_PACKAGES)  # the default image's
# What the function returns, by what the model predicts: one FLOAT (a binary model's probability, a
# regression model's value), or a multi-class model's class probabilities in class order, one
# ARRAY per row. Vectorized Python functions may return ARRAY: a pandas object column whose
# elements are lists (docs: developer-guide/udf/python/udf-python-batch, "Type support").
RETURN_TYPE: dict[Problem, str] = {"binary": "FLOAT", "regression": "FLOAT", "multiclass": "ARRAY"}
IMAGE_TAG = re.compile(r":(?P<tag>\d+\.\d+-\d+)(?:-[a-z0-9-]+)?$")
HANDLER_SOURCE = Path(__file__).with_name("scoring_handler.py")
# A key under the bucket root (the external stage's URL): what a stage path may hold, unquoted.
ARTIFACT_DIRECTORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*/")
MODELS_COLUMNS = (
    "DATASET",
    "MODEL_VERSION",
    "MODEL_PACKAGE_ARN",
    "ARTIFACT_URI",
    "METRIC_NAME",
    "METRIC_VALUE",
    "FUNCTION_NAME",
    "IMPORTS",
    "RUN_ID",
    "PUBLISHED_AT",
)


def handler_source() -> str:
    """The function's body: the text of ``scoring_handler.py``, exactly."""
    return HANDLER_SOURCE.read_text(encoding="utf-8")


def function_name(dataset: str) -> str:
    return validate_snowflake_identifier(f"{FUNCTION_PREFIX}{dataset.upper()}", "function name")


def import_location(dataset: str, model_version: int) -> str:
    """Where the function's model lives: one path per dataset and version, never overwritten by another."""
    return f"@{MODELS_STAGE}/{dataset}/v{model_version}/"


def artifact_directory(artifact_uri: str, bucket_stage: str) -> str:
    """``s3://<bucket>/<dir>/model.tar.gz`` -> ``@<stage>/<dir>/`` (the stage's URL is the bucket root)."""
    try:
        uri = S3Uri.parse(artifact_uri)
    except ValueError as error:
        raise PublicationRefused(str(error)) from None
    directory, _, name = uri.key.rpartition("/")
    directory += "/"
    # Unquoted in COPY FILES: `--` would start a comment there, `..` leave the prefix.
    if (
        name != MODEL_ARCHIVE
        or not ARTIFACT_DIRECTORY.fullmatch(directory)
        or {"..", "--"} & _pairs(directory)
    ):
        raise PublicationRefused(
            f"model artifact {artifact_uri!r} is not a SageMaker training output "
            f"(s3://<bucket>/<path>/{MODEL_ARCHIVE} with [A-Za-z0-9_./-] in the path)"
        )
    return f"@{validate_snowflake_identifier(bucket_stage, 'stage')}/{directory}"


def packages_for(image_uri: str) -> tuple[str, ...]:
    """PACKAGES for a model trained by ``image_uri`` (…/sagemaker-xgboost:<tag>)."""
    match = IMAGE_TAG.search(image_uri)
    tag = match.group("tag") if match else image_uri.rsplit(":", 1)[-1]
    if tag not in XGBOOST_FOR_IMAGE:
        known = ", ".join(sorted(XGBOOST_FOR_IMAGE))
        raise PublicationRefused(
            f"no xgboost on Snowflake's Anaconda channel is pinned for image {tag!r} (pinned: {known});"
            " its model cannot be published as a function: train with a pinned image to publish"
            " (docs/snowflake.md, 'Scoring in SQL')"
        )
    return (XGBOOST_FOR_IMAGE[tag], *OTHER_PACKAGES)


def _pairs(text: str) -> set[str]:
    return {text[index : index + 2] for index in range(len(text) - 1)}


def _string(value: str) -> str:
    """A SQL string literal for text this module built or validated (no quote can reach it)."""
    if "'" in value or "\\" in value:
        raise PublicationRefused(f"{value!r} cannot be inlined as a string literal")
    return f"'{value}'"


@dataclass(frozen=True)
class PublishStatements:
    copy_artifact: str
    create_function: str
    record_model: str


def create_function_statement(
    name: str,
    features: list[str],
    imports: str,
    comment: str,
    *,
    body: str | None = None,
    packages: tuple[str, ...] = PACKAGES,
    returns: str = "FLOAT",
) -> str:
    """``CREATE OR REPLACE FUNCTION``: one FLOAT argument per feature, in the model's order,
    returning ``returns`` (RETURN_TYPE: FLOAT, or ARRAY for a multi-class model)."""
    if returns not in RETURN_TYPE.values():
        allowed = sorted(set(RETURN_TYPE.values()))
        raise PublicationRefused(f"the function cannot return {returns!r}: one of {allowed}")
    if not features:
        raise PublicationRefused("the plan names no features: the function would take no arguments")
    arguments = ", ".join(
        f"{validate_snowflake_identifier(feature, 'feature')} FLOAT" for feature in features
    )
    source = handler_source() if body is None else body
    if "$$" in source:
        raise PublicationRefused("the handler's text holds '$$', which would end the function body")
    listed = ", ".join(_string(package) for package in packages)
    # docs: sql-reference/sql/create-function (Python: RUNTIME_VERSION, PACKAGES, IMPORTS, HANDLER).
    return (
        f"CREATE OR REPLACE FUNCTION {name}({arguments})\n"
        "  COPY GRANTS\n"
        f"  RETURNS {returns}\n"
        "  LANGUAGE PYTHON\n"
        f"  RUNTIME_VERSION = {_string(RUNTIME_VERSION)}\n"
        f"  PACKAGES = ({listed})\n"
        f"  IMPORTS = ({_string(imports)})\n"
        f"  HANDLER = {_string(HANDLER)}\n"
        f"  COMMENT = {_string(comment)}\n"
        f"AS $${source}$$"
    )


def record_model_statement() -> str:
    """One ML_MODELS row per dataset and version (MERGE: a retry rewrites it)."""
    source = ", ".join(
        f"CAST(%({column.lower()})s AS TIMESTAMP_NTZ) AS {column}"
        if column == "PUBLISHED_AT"
        else f"%({column.lower()})s AS {column}"
        for column in MODELS_COLUMNS
    )
    keys = {"DATASET", "MODEL_VERSION"}
    updates = ", ".join(f"{column} = s.{column}" for column in MODELS_COLUMNS if column not in keys)
    columns = ", ".join(MODELS_COLUMNS)
    values = ", ".join(f"s.{column}" for column in MODELS_COLUMNS)
    # B608: only module constants are inlined here; every value is a bind.
    return (
        f"MERGE INTO {MODELS_TABLE} t USING (SELECT {source}) s"  # noqa: S608  # nosec B608
        " ON t.DATASET = s.DATASET AND t.MODEL_VERSION = s.MODEL_VERSION"
        f" WHEN MATCHED THEN UPDATE SET {updates}"
        f" WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    )


def publish_statements(request: PublishModelRequest, bucket_stage: str) -> PublishStatements:
    plan, model = request.plan, request.model
    name = function_name(plan.dataset)
    target = import_location(plan.dataset, model.model_version)
    comment = f"Snowsage: {plan.dataset} model version {model.model_version}, run {plan.run_id}"
    return PublishStatements(
        copy_artifact=(
            f"COPY FILES INTO {target} FROM {artifact_directory(model.model_data_url, bucket_stage)}"
            f" FILES = ({_string(MODEL_ARCHIVE)})"
        ),
        create_function=create_function_statement(
            name,
            plan.scoring.features,
            f"{target}{MODEL_ARCHIVE}",
            comment,
            packages=packages_for(model.image_uri),
            returns=RETURN_TYPE[plan.model.problem],
        ),
        record_model=record_model_statement(),
    )


def served_model_statement() -> str:
    """The version the function serves: the dataset's last published ML_MODELS row."""
    columns = "MODEL_VERSION, MODEL_PACKAGE_ARN, ARTIFACT_URI, FUNCTION_NAME, IMPORTS, PUBLISHED_AT"
    # B608: only module constants are inlined here; the dataset is a bind.
    return (
        f"SELECT {columns} FROM {MODELS_TABLE} WHERE DATASET = %(dataset)s"  # noqa: S608  # nosec B608
        " ORDER BY PUBLISHED_AT DESC LIMIT 1"
    )


def _served(snowflake: Session, request: PublishModelRequest) -> PublishedModel | None:
    """The function's model when it is the request's (same version and package), else None."""
    snowflake.execute(served_model_statement(), {"dataset": request.plan.dataset})
    row = snowflake.cursor.fetchone()
    if row is None:
        return None
    version, package, artifact, name, imports, published_at = row
    model = request.model
    if int(version) != model.model_version or package != model.model_package_arn:
        return None
    return PublishedModel(
        function_name=str(name),
        model_version=int(version),
        model_package_arn=str(package),
        artifact_uri=str(artifact),
        imports=str(imports),
        published_at=published_at,
        already_served=True,
    )


def publish_model(
    request: PublishModelRequest, factory: ConnectionFactory, bucket_stage: str, now: datetime | None = None
) -> PublishedModel:
    """Copy the artifact, swap the function, record the version (module docstring: why this order).
    With ``if_not_served``, first ask ML_MODELS: a function already serving the model is left alone."""
    plan, model = request.plan, request.model
    statements = publish_statements(request, bucket_stage)  # a model that cannot be published: no connection
    published = PublishedModel(
        function_name=function_name(plan.dataset),
        model_version=model.model_version,
        model_package_arn=model.model_package_arn,
        artifact_uri=model.model_data_url,
        imports=f"{import_location(plan.dataset, model.model_version)}{MODEL_ARCHIVE}",
        published_at=(now or datetime.now(UTC)).replace(tzinfo=None),
    )
    binds = {
        "dataset": plan.dataset,
        "model_version": model.model_version,
        "model_package_arn": model.model_package_arn,
        "artifact_uri": model.model_data_url,
        "metric_name": model.metric_name,
        "metric_value": model.metric_value,
        "function_name": published.function_name,
        "imports": published.imports,
        "run_id": plan.run_id,
        "published_at": published.published_at,
    }
    with session(factory, query_tag=plan.run_id) as snowflake:
        served = _served(snowflake, request) if request.if_not_served else None
        if served is None:
            snowflake.execute(statements.copy_artifact)
            snowflake.execute(statements.create_function)
            snowflake.execute(statements.record_model, binds)
    return (served or published).model_copy(update={"warehouse_seconds": snowflake.warehouse_seconds()})
