"""Hyperparameter tuning jobs for the emulator: every trial is a real training job of the emulator.

Details: sandbox/sagemaker/README.md, "tuning.py".
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import random
import re
import statistics
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.sagemaker.errors import SageMakerError, validation_error
from sandbox.sagemaker.validation import check_name
from sandbox.sagemaker.warm_start import check_warm_start, seed_configurations

if TYPE_CHECKING:
    from sandbox.sagemaker.emulator import SageMakerEmulator

MAX_PARALLEL_TRIALS = 2
TUNING_OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
TUNING_NAME_MAX = 32  # API_CreateHyperParameterTuningJob: HyperParameterTuningJobName, 1-32
ENDED = frozenset({"Completed", "Failed", "Stopped"})
# The members of TrainingJobDefinition a trial's CreateTrainingJob request takes as they are (a
# DescribeTrainingJob echoes them too: bench replays a job from them).
TRAINING_JOB_MEMBERS = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "EnableNetworkIsolation",
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Trial:
    name: str
    tuned: dict[str, str]
    status: str = "InProgress"
    objective: float | None = None
    failure: str | None = None
    # The objective metric per epoch, read from the trial's log once it ended (early stopping).
    curve: list[float] = field(default_factory=list)


@dataclass
class TuningJob:
    name: str
    record: dict[str, Any]
    trials: list[_Trial] = field(default_factory=list)
    stop_requested: bool = False

    @property
    def status(self) -> str:
        return str(self.record["HyperParameterTuningJobStatus"])


def _ranges(config: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """``(name, kind, min, max)`` for every range; refused as the API refuses a bad one."""
    found: list[tuple[str, str, float, float]] = []
    ranges = config.get("ParameterRanges") or {}
    if ranges.get("CategoricalParameterRanges"):
        raise validation_error("The SageMaker emulator does not sample CategoricalParameterRanges")
    for key, kind in (("IntegerParameterRanges", "integer"), ("ContinuousParameterRanges", "continuous")):
        for item in ranges.get(key) or []:
            try:
                low, high = float(item["MinValue"]), float(item["MaxValue"])
            except (KeyError, ValueError):
                raise validation_error(
                    f"{key} {item.get('Name')!r}: MinValue and MaxValue must be numbers"
                ) from None
            if kind == "integer" and not (low.is_integer() and high.is_integer()):
                raise validation_error(f"IntegerParameterRange {item['Name']!r} must have integer bounds")
            if low > high:
                raise validation_error(
                    f"The MinValue {item['MinValue']} of {item['Name']!r} must be less than or equal to its"
                    f" MaxValue {item['MaxValue']}"
                )
            found.append((str(item["Name"]), kind, low, high))
    if not found:
        raise validation_error("ParameterRanges must name at least one hyperparameter to tune")
    return found


def validate_tuning(request: dict[str, Any]) -> None:
    name = check_name(request.get("HyperParameterTuningJobName"), "hyperParameterTuningJobName")
    if len(name) > TUNING_NAME_MAX:
        raise validation_error(
            f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' failed to satisfy"
            f" constraint: Member must have length less than or equal to {TUNING_NAME_MAX}"
        )
    config = request.get("HyperParameterTuningJobConfig") or {}
    definition = request.get("TrainingJobDefinition") or {}
    if not config or not definition:
        raise validation_error("HyperParameterTuningJobConfig and TrainingJobDefinition are required")
    objective = config.get("HyperParameterTuningJobObjective") or {}
    if not str(objective.get("MetricName", "")).startswith(("validation:", "train:")):
        raise validation_error(
            f"The objective metric {objective.get('MetricName')!r} is not a metric the algorithm emits"
        )
    if config.get("Strategy") == "Hyperband" and config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        # API_HyperParameterTuningJobConfig: Hyperband needs TrainingJobEarlyStoppingType OFF.
        raise validation_error("TrainingJobEarlyStoppingType must be Off to use the Hyperband strategy")
    tuned = {name for name, *_ in _ranges(config)}
    static = set(definition.get("StaticHyperParameters") or {})
    if tuned & static:
        raise validation_error(
            f"Hyperparameters {sorted(tuned & static)} cannot be both static and tuned (StaticHyperParameters"
            " and ParameterRanges)"
        )


def _sample(rng: random.Random, ranges: list[tuple[str, str, float, float]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, kind, low, high in ranges:
        if kind == "integer":
            values[name] = str(rng.randint(int(low), int(high)))
        else:
            values[name] = repr(round(rng.uniform(low, high), 6))
    return values


def objective_curve(log: list[str], metric_name: str, definitions: list[dict[str, str]]) -> list[float]:
    """The objective's value per epoch, from the round log the trial wrote: the built-in algorithm's
    ``[i]\t...\tvalidation-auc:0.91`` lines, or for a script every match of the metric's definition."""
    for definition in definitions:
        if definition.get("Name") == metric_name:
            pattern = re.compile(definition["Regex"])
            return [float(match.group(1)) for line in log for match in [pattern.search(line)] if match]
    key = metric_name.replace(":", "-", 1) + ":"
    curve: list[float] = []
    for line in log:
        for field_text in line.split("\t")[1:]:
            if field_text.startswith(key):
                curve.append(float(field_text[len(key) :]))
    return curve


def medians_of_running_averages(curves: list[list[float]]) -> list[float]:
    """Per epoch, the median over the earlier trials that reached it of each one's running average up to
    that epoch (automatic-model-tuning-early-stopping, "How Early Stopping Works")."""
    medians: list[float] = []
    for epoch in range(max((len(curve) for curve in curves), default=0)):
        averages = [statistics.fmean(curve[: epoch + 1]) for curve in curves if len(curve) > epoch]
        medians.append(statistics.median(averages))
    return medians


def _metric(description: dict[str, Any], metric_name: str) -> float | None:
    for metric in description.get("FinalMetricDataList") or []:
        if metric.get("MetricName") == metric_name:
            return float(metric["Value"])
    return None


def _page(summaries: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    """One page of the listing: MaxResults 1-100 (default 10), NextToken to the next page while more
    remain (API_ListTrainingJobsForHyperParameterTuningJob). The token is the offset, which only this
    emulator reads: callers pass it back unread, as they must a real one."""
    size = int(request.get("MaxResults", 10))
    if not 1 <= size <= 100:
        raise validation_error(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint:"
            " Member must have value less than or equal to 100 and greater than or equal to 1"
        )
    token = str(request.get("NextToken") or "0")
    if not token.isdigit():
        raise validation_error(f"Invalid pagination token {token!r}")
    start = int(token)
    answer: dict[str, Any] = {"TrainingJobSummaries": summaries[start : start + size]}
    if start + size < len(summaries):
        answer["NextToken"] = str(start + size)
    return answer


class TuningJobs:
    """The tuning jobs of one emulator; trials go through its CreateTrainingJob."""

    def __init__(self, emulator: SageMakerEmulator) -> None:
        self.emulator = emulator
        self._jobs: dict[str, TuningJob] = {}

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        validate_tuning(request)
        check_warm_start(request, self._parent)
        name = str(request["HyperParameterTuningJobName"])
        arn = self.emulator._arn("hyper-parameter-tuning-job", name)
        now = _now()
        definition = copy.deepcopy(request["TrainingJobDefinition"])
        # SageMaker adds the objective to every trial's hyperparameters (the built-in container evaluates
        # and early-stops on it: algorithm_mode/train.py line 276); the SageMaker Python SDK's tuner.py
        # (_prepare_estimator_from_job_description) removes it from a described tuning job's
        # StaticHyperParameters as "reserved by SageMaker for tuning jobs".
        objective = request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
        definition["StaticHyperParameters"] = {
            **(definition.get("StaticHyperParameters") or {}),
            TUNING_OBJECTIVE_HYPERPARAMETER: str(objective),
        }
        record: dict[str, Any] = {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobArn": arn,
            "HyperParameterTuningJobConfig": copy.deepcopy(request["HyperParameterTuningJobConfig"]),
            "TrainingJobDefinition": definition,
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "TrainingJobStatusCounters": {
                "Completed": 0,
                "InProgress": 0,
                "RetryableError": 0,
                "NonRetryableError": 0,
                "Stopped": 0,
            },
            "ObjectiveStatusCounters": {"Succeeded": 0, "Pending": 0, "Failed": 0},
        }
        if request.get("WarmStartConfig"):
            record["WarmStartConfig"] = copy.deepcopy(request["WarmStartConfig"])
        with self.emulator._lock:
            if name.lower() in self._jobs:
                raise SageMakerError(
                    "ResourceInUse",
                    f"Hyperparameter tuning job names must be unique within an AWS account and region, and"
                    f" a tuning job with this name already exists ({arn})",
                )
            job = TuningJob(name, record)
            self._jobs[name.lower()] = job
        if self.emulator.background:
            threading.Thread(
                target=self._run, args=(job,), name=f"sagemaker-tuning-{name}", daemon=True
            ).start()
        else:
            self._run(job)
        return {"HyperParameterTuningJobArn": arn}

    def _parent(self, name: str) -> tuple[dict[str, Any], int]:
        """A warm start parent: its record and how many trials it ran (warm_start.py checks them)."""
        with self.emulator._lock:
            job = self._jobs.get(name.lower())
            if job is None:
                raise validation_error(f"The parent tuning job {name} does not exist")
            return copy.deepcopy(job.record), len(job.trials)

    def _seeds(self, job: TuningJob, sample: Any) -> list[dict[str, str]]:
        """A warm-started job's first trials: its parents' evaluated configurations (warm_start.py)."""
        warm = job.record.get("WarmStartConfig")
        if not warm:
            return []
        with self.emulator._lock:
            evaluated = [
                (trial.objective, trial.tuned)
                for parent in warm["ParentHyperParameterTuningJobs"]
                for trial in self._jobs[str(parent["HyperParameterTuningJobName"]).lower()].trials
                if trial.objective is not None
            ]
        return seed_configurations(evaluated, job.record["HyperParameterTuningJobConfig"], sample)

    def _find(self, name: str) -> TuningJob:
        job = self._jobs.get(str(name).lower())
        if job is None:
            raise SageMakerError(
                "ResourceNotFound", f"Amazon SageMaker can't find a tuning job named {name}."
            )
        return job

    def names(self) -> list[str]:
        with self.emulator._lock:
            return [str(job.record["HyperParameterTuningJobName"]) for job in self._jobs.values()]

    def describe(self, name: str) -> dict[str, Any]:
        with self.emulator._lock:
            job = self._find(name)
            result = copy.deepcopy(job.record)
            best = self._best(job)
            if best is not None:
                result["BestTrainingJob"] = self._summary(job, best)
            return result

    def list_trials(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.emulator._lock:
            job = self._find(str(request.get("HyperParameterTuningJobName")))
            summaries = [self._summary(job, trial) for trial in job.trials]
        status = request.get("StatusEquals")
        if status:
            summaries = [s for s in summaries if s["TrainingJobStatus"] == status]
        sort_by = request.get("SortBy", "CreationTime")
        descending = request.get("SortOrder", "Descending") == "Descending"
        if sort_by == "FinalObjectiveMetricValue":
            scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            scored.sort(
                key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], reverse=descending
            )
            summaries = scored
        else:
            key = {"Name": "TrainingJobName", "Status": "TrainingJobStatus"}.get(sort_by, "CreationTime")
            summaries.sort(key=lambda s: s[key], reverse=descending)
        return _page(summaries, request)

    def stop(self, name: str) -> None:
        with self.emulator._lock:
            job = self._find(name)
            if job.status in ENDED:
                raise validation_error(
                    f"The request was rejected because the tuning job is in status {job.status}."
                )
            job.stop_requested = True
            job.record["HyperParameterTuningJobStatus"] = "Stopping"
            running = [trial.name for trial in job.trials if trial.status == "InProgress"]
        for trial in running:
            with contextlib.suppress(SageMakerError):  # it ended meanwhile
                self.emulator.stop_training_job(trial)

    # ---- running -----------------------------------------------------------------------------

    def _run(self, job: TuningJob) -> None:
        config = job.record["HyperParameterTuningJobConfig"]
        definition = job.record["TrainingJobDefinition"]
        limits = config["ResourceLimits"]
        total = int(limits.get("MaxNumberOfTrainingJobs", 1))
        parallel = min(int(limits["MaxParallelTrainingJobs"]), MAX_PARALLEL_TRIALS)
        ranges = _ranges(config)
        rng = random.Random(job.name)  # noqa: S311 - a search, not a secret
        seeds = self._seeds(job, lambda: _sample(rng, ranges))
        metric = config["HyperParameterTuningJobObjective"]["MetricName"]
        lock = self.emulator._lock
        changed = self.emulator._changed
        launched = 0
        while True:
            with lock:
                self._collect(job, metric)
                running = sum(1 for trial in job.trials if trial.status == "InProgress")
                if job.stop_requested or launched >= total:
                    if running == 0:
                        break
                    changed.wait(timeout=1.0)
                    continue
                if running >= parallel:
                    changed.wait(timeout=1.0)
                    continue
            launched += 1
            tuned = seeds.pop(0) if seeds else _sample(rng, ranges)
            self._launch(job, launched, definition, tuned, self._early_stop(job))
        self._end(job)

    def _early_stop(self, job: TuningJob) -> dict[str, Any] | None:
        """With TrainingJobEarlyStoppingType Auto, the rule a new trial's rounds are checked against: the
        medians of the running averages of the trials that ended before it (None: no rule yet)."""
        config = job.record["HyperParameterTuningJobConfig"]
        if config.get("TrainingJobEarlyStoppingType", "Off") != "Auto":
            return None
        with self.emulator._lock:
            medians = medians_of_running_averages([t.curve for t in job.trials if t.curve])
        if not medians:
            return None
        objective = config["HyperParameterTuningJobObjective"]
        data, metric = str(objective["MetricName"]).split(":", 1)
        return {
            "data": data,
            "metric": metric,
            "maximize": objective["Type"] == "Maximize",
            "medians": medians,
        }

    def _launch(
        self,
        job: TuningJob,
        number: int,
        definition: dict[str, Any],
        tuned: dict[str, str],
        early_stop: dict[str, Any] | None = None,
    ) -> None:
        digest = hashlib.sha256(f"{job.name}-{number}".encode()).hexdigest()[:8]
        name = f"{job.name}-{number:03d}-{digest}"
        request = {key: copy.deepcopy(definition[key]) for key in TRAINING_JOB_MEMBERS if key in definition}
        request["TrainingJobName"] = name
        request["HyperParameters"] = {**(definition.get("StaticHyperParameters") or {}), **tuned}
        trial = _Trial(name, tuned)
        with self.emulator._lock:
            job.trials.append(trial)
            self._count(job)
        try:
            self.emulator.create_training_job(
                request, tuning_job_arn=job.record["HyperParameterTuningJobArn"], early_stop=early_stop
            )
        except SageMakerError as error:
            with self.emulator._lock:
                trial.status, trial.failure = "Failed", f"{error.code}: {error}"
                self._count(job)

    def _collect(self, job: TuningJob, metric: str) -> None:
        """Read each running trial's status (under the emulator's lock)."""
        for trial in job.trials:
            if trial.status != "InProgress":
                continue
            description = self.emulator.describe_training_job(trial.name)
            status = description["TrainingJobStatus"]
            if status in ENDED:
                trial.status = status
                trial.failure = description.get("FailureReason")
                # A stopped trial (stopped early) reports the objective it reached, as AWS uses it.
                trial.objective = _metric(description, metric) if status != "Failed" else None
                definitions = description["AlgorithmSpecification"].get("MetricDefinitions") or []
                trial.curve = objective_curve(self.emulator.training_log(trial.name), metric, definitions)
        self._count(job)

    def _count(self, job: TuningJob) -> None:
        counters = job.record["TrainingJobStatusCounters"]
        statuses = [trial.status for trial in job.trials]
        counters.update(
            Completed=statuses.count("Completed"),
            InProgress=statuses.count("InProgress"),
            NonRetryableError=statuses.count("Failed"),
            Stopped=statuses.count("Stopped"),
        )
        job.record["ObjectiveStatusCounters"] = {
            "Succeeded": sum(1 for t in job.trials if t.objective is not None),
            "Pending": statuses.count("InProgress"),
            "Failed": sum(1 for t in job.trials if t.status != "InProgress" and t.objective is None),
        }
        job.record["LastModifiedTime"] = _now()

    def _end(self, job: TuningJob) -> None:
        with self.emulator._lock:
            now = _now()
            if job.stop_requested:
                status = "Stopped"
            elif self._best(job) is not None:
                status = "Completed"
            else:
                status = "Failed"
                reasons = [t.failure for t in job.trials if t.failure]
                job.record["FailureReason"] = (
                    f"All training jobs failed. One failed with: {reasons[0]}"
                    if reasons
                    else "No training job reported the objective metric"
                )
            job.record["HyperParameterTuningJobStatus"] = status
            job.record["HyperParameterTuningEndTime"] = now
            job.record["LastModifiedTime"] = now
            self.emulator._changed.notify_all()

    def _best(self, job: TuningJob) -> _Trial | None:
        """The best trial that COMPLETED (API_DescribeHyperParameterTuningJob, BestTrainingJob): a
        stopped one reports its objective but has no model."""
        scored = [t for t in job.trials if t.objective is not None and t.status == "Completed"]
        if not scored:
            return None
        objective = job.record["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        pick = max if objective["Type"] == "Maximize" else min
        return pick(scored, key=lambda trial: trial.objective if trial.objective is not None else 0.0)

    def _summary(self, job: TuningJob, trial: _Trial) -> dict[str, Any]:
        description = self._description(trial)
        summary: dict[str, Any] = {
            "TrainingJobName": trial.name,
            "TrainingJobArn": description.get(
                "TrainingJobArn", self.emulator._arn("training-job", trial.name)
            ),
            "TuningJobName": job.name,
            "CreationTime": description.get("CreationTime", job.record["CreationTime"]),
            "TrainingJobStatus": trial.status,
            "TunedHyperParameters": dict(trial.tuned),
            "ObjectiveStatus": (
                "Succeeded"
                if trial.objective is not None
                else "Pending"
                if trial.status == "InProgress"
                else "Failed"
            ),
        }
        for key in ("TrainingStartTime", "TrainingEndTime"):
            if key in description:
                summary[key] = description[key]
        if trial.failure:
            summary["FailureReason"] = trial.failure
        if trial.objective is not None:
            objective = job.record["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"],
                "MetricName": objective["MetricName"],
                "Value": trial.objective,
            }
        return summary

    def _description(self, trial: _Trial) -> dict[str, Any]:
        """The trial's DescribeTrainingJob, or {} for one whose CreateTrainingJob was refused."""
        try:
            return self.emulator.describe_training_job(trial.name)
        except SageMakerError:
            return {}
