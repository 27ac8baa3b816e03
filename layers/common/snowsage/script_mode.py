"""Script mode: a dataset's own ``training/<dataset>/train.py`` in SageMaker's XGBoost framework container.

The built-in XGBoost image is also the framework container: given the ``sagemaker_program`` and
``sagemaker_submit_directory`` hyperparameters it downloads the source archive, installs its
``requirements.txt`` and runs the program under the SageMaker training toolkit instead of the
algorithm (docs: sagemaker/latest/dg/xgboost.html, "Use XGBoost as a framework";
sagemaker-xgboost-container ``training.py``: ``user_entry_point`` set -> framework mode). The
other hyperparameters reach the script as ``--name value`` arguments and in ``SM_HPS``.

The archive reaches S3 at deploy time: ``scripts/upload_training.py`` (``make upload-training``,
and the sandbox's deploy) packs ``training/<dataset>/`` into ``s3://<bucket>/code/<dataset>/
sourcedir.tar.gz``. PrepareRun refuses a run whose script is not in that archive, naming the field
that asked for it.

On several instances (TRAINING_INSTANCE_COUNT > 1) the container runs the program on every host, with
``SM_HOSTS`` / ``SM_CURRENT_HOST`` set and the train channel ``ShardedByS3Key`` (aws/sagemaker-training-
toolkit ENVIRONMENT_VARIABLES.md; docs: API_S3DataSource); SageMaker aggregates every host's model
directory into one ``model.tar.gz`` and the names must not clash (docs: sagemaker/latest/dg/
your-algorithms-training-algo-output.html): the script decides what each host does and which one
saves the model. PrepareRun only refuses more instances than training files (scale_out.py).

The gate's metric is read from the script's log by a metric definition (docs: sagemaker/latest/dg/
training-metrics.html, "Define metrics"; API_MetricDefinition): the script prints
``<channel>-<metric>:<value>`` as xgboost's own evaluation log does, e.g. ``validation-auc:0.91``.
"""

from __future__ import annotations

import io
import re
import tarfile

from snowsage.errors import InvalidModelSettings
from snowsage.models import MetricDefinition, ScriptPlan
from snowsage.s3 import ObjectStore

SCRIPT_PATH = re.compile(r"^training/(?P<dataset>[a-z][a-z0-9_]*)/(?P<program>[A-Za-z_][A-Za-z0-9_]*\.py)$")
ARCHIVE_NAME = "sourcedir.tar.gz"
# The archive is small (a script, maybe a requirements.txt): PrepareRun reads at most this much.
MAX_ARCHIVE_BYTES = 20 * 1024 * 1024
# A float as Python and xgboost print it (0.91, 1e-05, -3.2E+10, nan, inf).
FLOAT = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"


def archive_key(dataset: str) -> str:
    return f"code/{dataset}/{ARCHIVE_NAME}"


def metric_definition(metric_name: str) -> MetricDefinition:
    """``validation:auc`` read from a log line holding ``validation-auc:0.91`` (xgboost's eval format)."""
    channel, _, metric = metric_name.partition(":")
    return MetricDefinition(Name=metric_name, Regex=f"{re.escape(channel)}-{re.escape(metric)}:{FLOAT}")


def script_hyperparameters(script: ScriptPlan) -> dict[str, str]:
    """The two hyperparameters that switch the container to framework mode (sagemaker-training-toolkit
    ``params.py``: USER_PROGRAM_PARAM, SUBMIT_DIR_PARAM)."""
    return {"sagemaker_program": script.program, "sagemaker_submit_directory": script.source_uri}


def plan_script(*, dataset: str, path: str, where: str, bucket: str, store: ObjectStore) -> ScriptPlan:
    """The script ``path`` names, checked against the archive deployed for ``dataset``.

    ``where`` names the field that asked for it (``ML_DATASETS.TRAINING_SCRIPT`` or the input key).
    """
    match = SCRIPT_PATH.fullmatch(path)
    if match is None or match["dataset"] != dataset:
        raise InvalidModelSettings(
            f"dataset {dataset}: {where} {path!r} must name a Python file in the repository's"
            f" training/{dataset}/ folder, e.g. 'training/{dataset}/train.py'"
        )
    key = archive_key(dataset)
    uri = f"s3://{bucket}/{key}"
    size = dict(store.iter_sizes(bucket, key)).get(key)
    if size is None:
        raise InvalidModelSettings(
            f"dataset {dataset}: {where} {path!r} has no source archive: {uri} does not exist"
            " (deploy training/ with `make upload-training`, scripts/upload_training.py)"
        )
    if size <= MAX_ARCHIVE_BYTES:
        names = _archive_names(store.read_bytes(bucket, key, MAX_ARCHIVE_BYTES), uri, dataset, where)
        if match["program"] not in names:
            raise InvalidModelSettings(
                f"dataset {dataset}: {where} {path!r} is missing: {uri} holds {sorted(names) or 'no files'}"
                " (deploy training/ again with `make upload-training`)"
            )
    return ScriptPlan(path=path, program=match["program"], source_uri=uri)


def _archive_names(data: bytes, uri: str, dataset: str, where: str) -> set[str]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            return {name.removeprefix("./") for name in archive.getnames()}
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidModelSettings(
            f"dataset {dataset}: {where}: {uri} is not a gzipped tar archive ({error})"
        ) from None
