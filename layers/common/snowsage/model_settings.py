"""A dataset's model: objective, evaluation metric, threshold and hyperparameters, resolved in layers.

Each setting is taken from the last layer that sets it: the template's defaults, then the
dataset's ML_DATASETS row (copied into the manifest by EXPORT_DATASET), then the execution
input. The plan records which layer each value came from. A setting that does not fit is refused
with ``InvalidModelSettings`` naming the dataset and the column (or input key) that holds it.

TRAINING_SCRIPT and TRAINING_INSTANCE_COUNT (script mode and scale-out) are resolved here and
checked in plan.py (script_mode.py, scale_out.py), which needs the export and the bucket.

Adding a setting (as the row's TRAINING_ENGINE and SCORING_ENGINE were): a column in
ML_DATASETS, copied into the manifest's ``model`` by EXPORT_DATASET (30_export_procedure.sql and
sandbox/snowflake/export.py's MODEL_COLUMNS), a field of ``DatasetModel`` and of
``ExecutionInput``, and one ``_Layers.pick`` call in ``resolve_model``, which records its source
like the others.

The objectives, metrics and their directions are the built-in XGBoost algorithm's: objectives
from its hyperparameter page (docs: sagemaker/latest/dg/xgboost_hyperparameters), metric names as
the algorithm emits them (``validation:<eval_metric>``) and maximised or minimised as its tuning
page says (docs: sagemaker/latest/dg/xgboost-tuning; the container's constants/xgb_constants.py
lists every metric it reports in its MAXIMIZE or MINIMIZE list).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from snowsage.errors import InvalidModelSettings
from snowsage.models import (
    DatasetModel,
    ExecutionInput,
    HyperparameterValue,
    LabelSummary,
    ModelPlan,
    Problem,
    ScoringEngine,
    TrainingEngine,
)
from snowsage.tuning import TuningSettings, check_tuning, parse_tuning

# Objectives the pipeline can train, score and load, by what they predict. Left out: multi:softmax
# (a class without its probability: use multi:softprob), rank:* (needs query groups), survival:*.
OBJECTIVES: dict[str, Problem] = {
    "binary:logistic": "binary",
    "binary:logitraw": "binary",
    "binary:hinge": "binary",
    "reg:squarederror": "regression",
    "reg:squaredlogerror": "regression",
    "reg:logistic": "regression",
    "reg:pseudohubererror": "regression",
    "reg:absoluteerror": "regression",
    "reg:gamma": "regression",
    "reg:tweedie": "regression",
    "count:poisson": "regression",
    "multi:softprob": "multiclass",
}

# The metrics (the container's eval_metric values) that judge each kind of model.
METRICS: dict[Problem, tuple[str, ...]] = {
    "binary": (
        *("auc", "aucpr", "logloss", "error", "accuracy", "balanced_accuracy"),
        *("f1", "f1_binary", "precision", "recall"),
    ),
    "regression": (
        *("rmse", "mse", "mae", "mape", "mphe", "rmsle", "r2"),
        *("poisson-nloglik", "gamma-nloglik", "gamma-deviance", "tweedie-nloglik"),
    ),
    "multiclass": (
        *("mlogloss", "merror", "accuracy", "balanced_accuracy", "f1", "f1_macro"),
        *("precision_macro", "precision_micro", "recall_macro", "recall_micro"),
    ),
}
DEFAULT_METRIC: dict[Problem, str] = {
    "binary": "validation:auc",
    "regression": "validation:rmse",
    "multiclass": "validation:mlogloss",
}
METRIC_CHANNEL = "validation:"

# Larger is better (xgboost-tuning; the container's MAXIMIZE_METRICS); every other metric is an
# error or a loss, minimised. ``pre`` and ``ndcg@n``-style names count by their stem.
MAXIMISED_METRICS = frozenset(
    {
        *("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map"),
        *("ndcg", "pre", "precision", "precision_macro", "precision_micro", "r2", "recall"),
        *("recall_macro", "recall_micro"),
    }
)
# Maximised metrics that are fractions: a minimum outside 0..1 can never be met (or always is).
UNIT_METRICS = MAXIMISED_METRICS - {"r2"}

# The predictions table's columns for each kind (docs/contracts.md, "Snowflake objects").
RUN_COLUMNS = ("RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT")
PREDICTION_COLUMNS: dict[Problem, tuple[str, ...]] = {
    "binary": ("ID", "SCORE", *RUN_COLUMNS),
    "regression": ("ID", "SCORE", *RUN_COLUMNS),
    "multiclass": ("ID", "PREDICTED_CLASS", "SCORE", "PROBABILITIES", *RUN_COLUMNS),
}
T = TypeVar("T")
Engine = Literal["SAGEMAKER", "SNOWFLAKE"]  # TrainingEngine and ScoringEngine alike
MULTICLASS_ONLY_COLUMNS = frozenset({"PREDICTED_CLASS", "PROBABILITIES"})

# Keys that have columns of their own: a HYPERPARAMETERS object may not set them.
OWN_COLUMNS = {"objective": "OBJECTIVE", "eval_metric": "EVALUATION_METRIC"}
DEFAULT_OBJECTIVE = "binary:logistic"
# A dataset trains and scores on SageMaker unless its row or the execution input says SNOWFLAKE.
DEFAULT_ENGINE: Engine = "SAGEMAKER"


def metric_short_name(metric_name: str) -> str:
    """``validation:ndcg@5`` -> ``ndcg@5``."""
    return metric_name.rsplit(":", 1)[-1]


def metric_direction(metric_name: str) -> Literal["max", "min"]:
    """``validation:auc`` -> max; ``validation:rmse`` -> min. ``ndcg@5`` counts as ndcg."""
    stem = metric_short_name(metric_name).split("@", 1)[0].lower()
    return "max" if stem in MAXIMISED_METRICS else "min"


@dataclass(frozen=True)
class TemplateDefaults:
    """The stack-wide defaults (template parameters Hyperparameters, EvaluationMetric, …)."""

    hyperparameters: Mapping[str, str]
    evaluation_metric: str
    evaluation_threshold: float
    training_instance_count: int = 1
    transform_instance_count: int = 1


@dataclass(frozen=True)
class ResolvedModel:
    plan: ModelPlan
    hyperparameters: dict[str, str]
    metric_name: str
    threshold: float
    # The run's tuning settings (checked), and how errors name where they came from.
    tuning: TuningSettings | None = None
    tuning_where: str = ""


@dataclass
class _Layers:
    """Picks each setting from the last layer that sets it, and remembers which one."""

    dataset: str
    sources: dict[str, str] = field(default_factory=dict)

    def pick(self, name: str, layers: list[tuple[str, T | None]]) -> tuple[T, str]:
        chosen: tuple[T, str] | None = None
        for source, value in layers:
            if value is not None:
                chosen = (value, source)
        if chosen is None:  # pragma: no cover - the template layer always sets a value
            raise InvalidModelSettings(f"dataset {self.dataset}: no value for {name}")
        self.sources[name] = chosen[1]
        return chosen

    def pick_optional(self, name: str, layers: list[tuple[str, T | None]]) -> T | None:
        """The last layer's value, or None when no layer sets it (then no source is recorded)."""
        if all(value is None for _, value in layers):
            return None
        return self.pick(name, layers)[0]

    def refuse(self, where: str, message: str) -> InvalidModelSettings:
        return InvalidModelSettings(f"dataset {self.dataset}: {where} {message}")


ROW = "ML_DATASETS"
INPUT = "execution input"


# The template parameter each column's default comes from.
TEMPLATE_PARAMETERS = {
    "OBJECTIVE": "Hyperparameters objective",
    "EVALUATION_METRIC": "EvaluationMetric",
    "EVALUATION_THRESHOLD": "EvaluationThreshold",
    "TRAINING_INSTANCE_COUNT": "TrainingInstanceCount",
}
TUNING_PLACES = {ROW: "ML_DATASETS.TUNING", INPUT: "execution input 'tuning'"}


def setting_location(source: str, column: str, input_key: str) -> str:
    """How an error names the place a setting came from (ML_DATASETS.<column>, the input key, …)."""
    return _where(source, column, input_key)


def _where(source: str, column: str, input_key: str) -> str:
    """How an error names the place a value came from."""
    if source == ROW:
        return f"ML_DATASETS.{column}"
    if source == INPUT:
        return f"execution input {input_key!r}"
    parameter = TEMPLATE_PARAMETERS.get(column, column)
    return f"the template's {parameter}" if source == "template" else f"the {source} {parameter}"


def _row_hyperparameters(layers: _Layers, text: str | None) -> dict[str, HyperparameterValue] | None:
    if text is None or not text.strip():
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise layers.refuse(
            "ML_DATASETS.HYPERPARAMETERS", f"is not JSON ({error.msg}): {text[:200]!r}"
        ) from None
    if not isinstance(document, dict):
        raise layers.refuse(
            "ML_DATASETS.HYPERPARAMETERS",
            f"must be a JSON object of names to values, not {type(document).__name__}: {text[:200]!r}",
        )
    for key, value in document.items():
        if isinstance(value, (dict, list)) or value is None:
            raise layers.refuse(
                "ML_DATASETS.HYPERPARAMETERS", f"value of {key!r} must be a string, number or boolean"
            )
    return document


def _as_text(value: HyperparameterValue) -> str:
    """SageMaker's HyperParameters are strings (API_CreateTrainingJob); booleans as xgboost spells them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _merge_hyperparameters(
    layers: _Layers,
    template: Mapping[str, str],
    overrides: list[tuple[str, Mapping[str, HyperparameterValue] | None]],
) -> dict[str, str]:
    merged = {key: value for key, value in template.items() if key not in OWN_COLUMNS}
    for key in merged:
        layers.sources[f"hyperparameters.{key}"] = "template"
    for source, values in overrides:
        for key, value in (values or {}).items():
            if key in OWN_COLUMNS:
                where = (
                    "ML_DATASETS.HYPERPARAMETERS" if source == ROW else "execution input 'hyperparameters'"
                )
                column = OWN_COLUMNS[key]
                raise layers.refuse(
                    where,
                    f"sets {key!r}; set it in {column if source == ROW else column.lower()} instead",
                )
            merged[key] = _as_text(value)
            layers.sources[f"hyperparameters.{key}"] = source
    return merged


def _check_metric(layers: _Layers, metric: str, source: str, objective: str, problem: Problem) -> None:
    where = _where(source, "EVALUATION_METRIC", "evaluation_metric")
    allowed = ", ".join(f"{METRIC_CHANNEL}{name}" for name in METRICS[problem])
    if not metric.startswith(METRIC_CHANNEL):
        raise layers.refuse(where, f"{metric!r} must name a validation metric ({allowed})")
    if metric_short_name(metric) not in METRICS[problem]:
        raise layers.refuse(
            where, f"{metric!r} does not fit objective {objective} (a {problem} model); use one of {allowed}"
        )


def _check_threshold(layers: _Layers, metric: str, threshold: float, source: str) -> None:
    where = _where(source, "EVALUATION_THRESHOLD", "evaluation_threshold")
    stem = metric_short_name(metric).split("@", 1)[0]
    if not math.isfinite(threshold):
        raise layers.refuse(where, f"{threshold} is not a number")
    if metric_direction(metric) == "max":
        if threshold > 1 or (stem in UNIT_METRICS and threshold < 0):
            low = "0" if stem in UNIT_METRICS else "-inf"
            raise layers.refuse(
                where,
                f"{threshold:g} is on the wrong side for {metric}, which is maximised: the threshold is"
                f" a minimum and must lie in {low}..1",
            )
    elif threshold <= 0:
        raise layers.refuse(
            where,
            f"{threshold:g} is on the wrong side for {metric}, which is minimised: the threshold is"
            " a maximum and must be above 0",
        )


def _num_class(
    layers: _Layers, hyperparameters: dict[str, str], labels: LabelSummary | None, label: str
) -> int:
    """multi:softprob's num_class: the row's (or input's), else the number of distinct labels."""
    where = f"label column {label}"
    given = hyperparameters.get("num_class")
    given_in = _where(
        layers.sources.get("hyperparameters.num_class", ROW), "HYPERPARAMETERS", "hyperparameters"
    )
    if given is not None:
        try:
            count = int(given)
        except ValueError:
            count = 0
        if count < 2:
            raise layers.refuse(f"{given_in} num_class", f"must be an integer of at least 2, not {given!r}")
    else:
        if labels is None:
            raise layers.refuse(
                "ML_DATASETS.HYPERPARAMETERS",
                "needs num_class for multi:softprob: this manifest has no label summary to count the classes",
            )
        count = labels.distinct
        layers.sources["hyperparameters.num_class"] = "labels"
    if labels is not None:
        top = count - 1
        if (
            labels.non_integers
            or labels.min is None
            or labels.max is None
            or labels.min < 0
            or labels.max > top
        ):
            raise layers.refuse(
                where,
                f"holds labels outside 0..{top}: multi-class labels must be the integers 0..k-1"
                f" ({labels.distinct} distinct values from {labels.min:g} to {labels.max:g},"
                f" {labels.non_integers} not integers)"
                if labels.min is not None and labels.max is not None
                else f"has no labels; multi-class labels must be the integers 0..{top}",
            )
        if given is None and labels.distinct < 2:
            raise layers.refuse(
                where, f"has {labels.distinct} distinct label(s); a multi-class model needs at least 2"
            )
    hyperparameters["num_class"] = str(count)
    return count


def _check_binary_labels(layers: _Layers, labels: LabelSummary | None, label: str) -> None:
    if labels is None or labels.min is None or labels.max is None:
        return
    if labels.min < 0 or labels.max > 1:
        raise layers.refuse(
            f"label column {label}",
            f"holds labels from {labels.min:g} to {labels.max:g}; a binary objective needs labels in 0..1",
        )


def _row_engine(layers: _Layers, column: str, text: str | None) -> Engine | None:
    """An ML_DATASETS engine column as written: NULL leaves it to the default, SAGEMAKER."""
    if text is None:
        return None
    if text == "SAGEMAKER":
        return "SAGEMAKER"
    if text == "SNOWFLAKE":
        return "SNOWFLAKE"
    raise layers.refuse(f"ML_DATASETS.{column}", f"{text[:200]!r} is not 'SAGEMAKER' or 'SNOWFLAKE'")


def _pick_engine(
    layers: _Layers, name: str, row_value: str | None, input_value: Engine | None
) -> tuple[Engine, str]:
    engine_layers: list[tuple[str, str | None]] = [
        ("default", DEFAULT_ENGINE),
        (ROW, _row_engine(layers, name.upper(), row_value)),
        (INPUT, input_value),
    ]
    engine, source = layers.pick(name, engine_layers)
    return ("SNOWFLAKE" if engine == "SNOWFLAKE" else "SAGEMAKER"), source


def _pick_training_engine(
    layers: _Layers, row: DatasetModel, request: ExecutionInput
) -> tuple[TrainingEngine, str]:
    return _pick_engine(layers, "training_engine", row.training_engine, request.training_engine)


def _pick_scoring_engine(
    layers: _Layers, row: DatasetModel, request: ExecutionInput
) -> tuple[ScoringEngine, str]:
    return _pick_engine(layers, "scoring_engine", row.scoring_engine, request.scoring_engine)


def resolve_training_engine(
    dataset: str, row: DatasetModel | None, request: ExecutionInput
) -> tuple[TrainingEngine, str]:
    """The run's engine and the layer that chose it ("default", ML_DATASETS, "execution input"),
    resolved as ``resolve_model`` does: PrepareRun needs it first, to know which sections to check."""
    return _pick_training_engine(_Layers(dataset), row or DatasetModel(), request)


def resolve_scoring_engine(
    dataset: str, row: DatasetModel | None, request: ExecutionInput
) -> tuple[ScoringEngine, str]:
    """Where the run scores, resolved like the training engine (PrepareRun needs it first too)."""
    return _pick_scoring_engine(_Layers(dataset), row or DatasetModel(), request)


def check_predictions_columns(dataset: str, table: str, columns: list[str] | None, problem: Problem) -> None:
    """The predictions table has the columns its kind of model is loaded into (when the manifest says)."""
    if columns is None:
        return
    if not columns:
        raise InvalidModelSettings(
            f"dataset {dataset}: ML_DATASETS.PREDICTIONS_TABLE {table} does not exist"
            " (EXPORT_DATASET found no columns for it in INFORMATION_SCHEMA)"
        )
    present = {column.upper() for column in columns}
    missing = [column for column in PREDICTION_COLUMNS[problem] if column not in present]
    extra = sorted(present & MULTICLASS_ONLY_COLUMNS) if problem != "multiclass" else []
    if missing or extra:
        wanted = ", ".join(PREDICTION_COLUMNS[problem])
        detail = (
            f"lacks {', '.join(missing)}" if missing else f"has the multi-class column(s) {', '.join(extra)}"
        )
        raise InvalidModelSettings(
            f"dataset {dataset}: ML_DATASETS.PREDICTIONS_TABLE {table} {detail}; a {problem} model"
            f" is loaded into ({wanted})"
        )


def resolve_model(
    *,
    dataset: str,
    label_column: str,
    template: TemplateDefaults,
    row: DatasetModel | None,
    request: ExecutionInput,
    labels: LabelSummary | None,
) -> ResolvedModel:
    layers = _Layers(dataset)
    row = row or DatasetModel()
    template_objective = template.hyperparameters.get("objective", DEFAULT_OBJECTIVE)

    objective, objective_source = layers.pick(
        "objective", [("template", template_objective), (ROW, row.objective), (INPUT, request.objective)]
    )
    problem = OBJECTIVES.get(objective)
    if problem is None:
        raise layers.refuse(
            _where(objective_source, "OBJECTIVE", "objective"),
            f"{objective!r} is not an objective this pipeline trains, scores and loads; use one of"
            f" {', '.join(OBJECTIVES)}",
        )

    # The template's metric and threshold go together, and only with the template's kind of model.
    template_metric: str | None = template.evaluation_metric
    template_threshold: float | None = template.evaluation_threshold
    default_source = "template"
    if OBJECTIVES.get(template_objective) != problem:
        template_metric, template_threshold = DEFAULT_METRIC[problem], None
        default_source = f"default for {objective}"
    metric, metric_source = layers.pick(
        "evaluation_metric",
        [(default_source, template_metric), (ROW, row.evaluation_metric), (INPUT, request.evaluation_metric)],
    )
    _check_metric(layers, metric, metric_source, objective, problem)

    if metric != template_metric:
        template_threshold = None  # a threshold is only meaningful for the metric it was set for
    threshold_layers: list[tuple[str, float | None]] = [
        ("template", template_threshold),
        (ROW, row.evaluation_threshold),
        (INPUT, request.evaluation_threshold),
    ]
    if all(value is None for _, value in threshold_layers):
        raise layers.refuse(
            "ML_DATASETS.EVALUATION_THRESHOLD",
            f"is not set: {metric} is not the template's metric ({template.evaluation_metric}),"
            " so the dataset's row must set the threshold it is judged by",
        )
    threshold, threshold_source = layers.pick("evaluation_threshold", threshold_layers)
    _check_threshold(layers, metric, threshold, threshold_source)

    hyperparameters = _merge_hyperparameters(
        layers,
        template.hyperparameters,
        [(ROW, _row_hyperparameters(layers, row.hyperparameters)), (INPUT, request.hyperparameters)],
    )
    hyperparameters["objective"] = objective
    hyperparameters["eval_metric"] = metric_short_name(metric)
    training_engine, _ = _pick_training_engine(layers, row, request)
    scoring_engine, _ = _pick_scoring_engine(layers, row, request)
    num_class: int | None = None
    if problem == "multiclass":
        num_class = _num_class(layers, hyperparameters, labels, label_column)
    elif problem == "binary":
        _check_binary_labels(layers, labels, label_column)
    training_script = layers.pick_optional(
        "training_script", [(ROW, row.training_script), (INPUT, request.training_script)]
    )
    training_instances, _ = layers.pick(
        "training_instance_count",
        [
            ("template", template.training_instance_count),
            (ROW, row.training_instance_count),
            (INPUT, request.training_instance_count),
        ],
    )
    transform_instances, _ = layers.pick(
        "transform_instance_count",
        [("template", template.transform_instance_count), (INPUT, request.transform_instance_count)],
    )
    tuning, tuning_where = _tuning(layers, row, request, metric)
    return ResolvedModel(
        plan=ModelPlan(
            objective=objective,
            problem=problem,
            num_class=num_class,
            training_script=training_script,
            training_instance_count=training_instances,
            transform_instance_count=transform_instances,
            training_engine=training_engine,
            scoring_engine=scoring_engine,
            sources=dict(layers.sources),
        ),
        hyperparameters=hyperparameters,
        metric_name=metric,
        threshold=threshold,
        tuning=tuning,
        tuning_where=tuning_where,
    )


def _tuning(
    layers: _Layers, row: DatasetModel, request: ExecutionInput, metric: str
) -> tuple[TuningSettings | None, str]:
    """The input's ``tuning`` replaces the row's TUNING whole; neither set: no tuning (no template layer)."""
    source = INPUT if request.tuning is not None else ROW
    where = TUNING_PLACES[source]
    settings = parse_tuning(layers.dataset, where, request.tuning if source == INPUT else row.tuning)
    if settings is None:
        return None, ""
    check_tuning(layers.dataset, where, settings, metric)
    layers.sources["tuning"] = source
    return settings, where
