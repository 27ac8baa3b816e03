"""The emulator's hyperparameter tuning jobs: real trials, bounded parallelism, the API's contract."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.sagemaker import SageMakerEmulator
from sandbox.sagemaker.tuning import MAX_PARALLEL_TRIALS, TuningJob
from tests.sandbox.emulator_helpers import error_of, put_training_data, training_request
from tests.unit.botocore_shapes import request_problems


def tuning_request(
    name: str = "snowsage-0123456789ab-t0", *, max_jobs: int = 4, parallel: int = 2
) -> dict[str, Any]:
    trial = training_request()
    static = {
        key: value for key, value in trial["HyperParameters"].items() if key not in ("eta", "max_depth")
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "5"}],
                "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}],
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": static,
            **{key: trial[key] for key in ("AlgorithmSpecification", "RoleArn", "InputDataConfig")},
            **{key: trial[key] for key in ("OutputDataConfig", "ResourceConfig", "StoppingCondition")},
        },
    }


def test_trials_carry_the_tuning_objective_metric(emulator: SageMakerEmulator, s3: Any) -> None:
    """SageMaker adds the objective to every trial's hyperparameters (the SDK's tuner.py removes it from
    a described job as "reserved by SageMaker"); the built-in container then evaluates it."""
    put_training_data(s3)
    request = tuning_request(max_jobs=1, parallel=1)
    del request["TrainingJobDefinition"]["StaticHyperParameters"]["eval_metric"]
    emulator.create_hyper_parameter_tuning_job(request)
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")
    statics = described["TrainingJobDefinition"]["StaticHyperParameters"]
    assert statics["_tuning_objective_metric"] == "validation:auc"
    trial = emulator.describe_training_job(described["BestTrainingJob"]["TrainingJobName"])
    assert trial["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"
    assert [m["MetricName"] for m in trial["FinalMetricDataList"]] == ["validation:auc", "train:auc"]


def test_the_request_is_one_botocore_accepts() -> None:
    assert request_problems("sagemaker", "CreateHyperParameterTuningJob", tuning_request()) == []


def test_every_trial_really_trains_and_the_best_is_reported(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(tuning_request(max_jobs=4))
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 4,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    trials = emulator.list_training_jobs_for_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": "snowsage-0123456789ab-t0", "SortBy": "FinalObjectiveMetricValue"}
    )["TrainingJobSummaries"]
    assert len(trials) == 4
    values = [t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in trials]
    assert values == sorted(values, reverse=True)
    best = described["BestTrainingJob"]
    assert best["TrainingJobName"] == trials[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(values)
    assert best["TrainingJobName"].startswith("snowsage-0123456789ab-t0-00")
    # Each trial is a training job of its own, with the tuned values over the static ones.
    job = emulator.describe_training_job(best["TrainingJobName"])
    assert job["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert job["HyperParameters"]["eta"] == best["TunedHyperParameters"]["eta"]
    assert 2 <= int(job["HyperParameters"]["max_depth"]) <= 5
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://snowsage-test/models/{best['TrainingJobName']}/output/model.tar.gz"
    )


def test_a_failed_trial_among_good_ones(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.faults.fail_next_training("AlgorithmError: injected failure")
    emulator.create_hyper_parameter_tuning_job(tuning_request(max_jobs=3))
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 1}
    failed = emulator.list_training_jobs_for_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": "snowsage-0123456789ab-t0", "StatusEquals": "Failed"}
    )["TrainingJobSummaries"]
    assert [t["FailureReason"] for t in failed] == ["AlgorithmError: injected failure"]
    assert failed[0]["ObjectiveStatus"] == "Failed"
    assert described["BestTrainingJob"]["TrainingJobName"] != failed[0]["TrainingJobName"]


def test_all_trials_failed_fails_the_tuning_job(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    for _ in range(2):
        emulator.faults.fail_next_training("AlgorithmError: injected failure")
    emulator.create_hyper_parameter_tuning_job(tuning_request(max_jobs=2))
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("All training jobs failed.")
    assert "BestTrainingJob" not in described


def test_parallelism_is_bounded_and_max_jobs_respected(background: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    peak = 0

    original = background.create_training_job

    def counting(request: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        nonlocal peak
        described = background.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")
        peak = max(peak, described["TrainingJobStatusCounters"]["InProgress"])
        return original(request, **kwargs)

    background.create_training_job = counting  # type: ignore[method-assign]
    background.create_hyper_parameter_tuning_job(tuning_request(max_jobs=5, parallel=8))
    described = background.wait_tuning("snowsage-0123456789ab-t0")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert sum(described["TrainingJobStatusCounters"].values()) == 5
    assert peak <= MAX_PARALLEL_TRIALS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(eta="0.3"),
            "cannot be both static and tuned",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][
                0
            ].update(MinValue="0.9"),
            "must be less than or equal to its MaxValue",
        ),
        (lambda r: r.update(HyperParameterTuningJobName="x" * 33), "less than or equal to 32"),
        (
            lambda r: r["HyperParameterTuningJobConfig"].update(
                Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto"
            ),
            "must be Off to use the Hyperband strategy",
        ),
    ],
)
def test_requests_the_api_refuses_are_refused(emulator: SageMakerEmulator, change: Any, message: str) -> None:
    request = tuning_request()
    change(request)
    error = error_of(emulator.create_hyper_parameter_tuning_job, request)
    assert error.code == "ValidationException"
    assert message in str(error)


def test_a_duplicate_name_is_refused(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(tuning_request(max_jobs=1, parallel=1))
    error = error_of(emulator.create_hyper_parameter_tuning_job, tuning_request(max_jobs=1, parallel=1))
    assert error.code == "ResourceInUse"


def _early_stopping_request(stopping: str) -> dict[str, Any]:
    """Six trials one after another; max_depth 1 is an obviously bad range for this data next to 6."""
    request = tuning_request(max_jobs=6, parallel=1)
    config = request["HyperParameterTuningJobConfig"]
    config["TrainingJobEarlyStoppingType"] = stopping
    config["ParameterRanges"]["IntegerParameterRanges"] = [
        {"Name": "max_depth", "MinValue": "1", "MaxValue": "6"}
    ]
    config["ParameterRanges"]["ContinuousParameterRanges"] = [
        {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.6"}
    ]
    return request


def _trials_in_order(emulator: SageMakerEmulator) -> list[dict[str, Any]]:
    return emulator.list_training_jobs_for_hyper_parameter_tuning_job(
        {
            "HyperParameterTuningJobName": "snowsage-0123456789ab-t0",
            "SortBy": "Name",
            "SortOrder": "Ascending",
        }
    )["TrainingJobSummaries"]


def _auc_per_round(emulator: SageMakerEmulator, trial: str) -> list[float]:
    return [
        float(field.split(":", 1)[1])
        for line in emulator.training_log(trial)
        for field in line.split("\t")
        if field.startswith("validation-auc:")
    ]


def test_early_stopping_auto_stops_the_trials_worse_than_the_median_of_earlier_ones(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    """automatic-model-tuning-early-stopping: after each epoch, a trial whose objective is worse than the
    median of the earlier trials' running averages up to that epoch is stopped; AWS reports it Stopped."""
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(_early_stopping_request("Auto"))
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"

    trials = _trials_in_order(emulator)
    stopped = [t for t in trials if t["TrainingJobStatus"] == "Stopped"]
    assert stopped, [t["TunedHyperParameters"] for t in trials]
    counters = described["TrainingJobStatusCounters"]
    assert counters["Stopped"] == len(stopped) and counters["Completed"] == 6 - len(stopped)
    # A stopped trial's objective is still used (it reached it), but only a completed one can be best.
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert described["BestTrainingJob"]["TrainingJobStatus"] == "Completed"

    # The rule, checked against the rounds the trials really logged (they ran one after another).
    earlier: list[list[float]] = []
    for trial in trials:
        curve = _auc_per_round(emulator, trial["TrainingJobName"])
        medians = [
            sorted_median([sum(c[: epoch + 1]) / (epoch + 1) for c in earlier if len(c) > epoch])
            for epoch in range(max((len(c) for c in earlier), default=0))
        ]
        worse = [
            epoch for epoch, value in enumerate(curve) if epoch < len(medians) and value < medians[epoch]
        ]
        job = emulator.describe_training_job(trial["TrainingJobName"])
        if trial["TrainingJobStatus"] == "Stopped":
            assert worse == [len(curve) - 1], (trial["TrainingJobName"], curve, medians)
            assert len(curve) < 20 and "ModelArtifacts" not in job
            assert job["SecondaryStatus"] == "Stopped"
        else:
            assert worse == [] and len(curve) == 20
        earlier.append(curve)


def sorted_median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def test_early_stopping_off_stops_no_trial(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(_early_stopping_request("Off"))
    described = emulator.describe_hyper_parameter_tuning_job("snowsage-0123456789ab-t0")
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert described["TrainingJobStatusCounters"]["Stopped"] == 0
    assert all(len(_auc_per_round(emulator, t["TrainingJobName"])) == 20 for t in _trials_in_order(emulator))


PARENT = "snowsage-0123456789ab-t0"
CHILD = "snowsage-ba9876543210-t0"


def warm_request(*parents: str, warm_type: str = "TransferLearning", max_jobs: int = 4) -> dict[str, Any]:
    request = tuning_request(CHILD, max_jobs=max_jobs, parallel=1)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parents],
        "WarmStartType": warm_type,
    }
    return request


def test_the_warm_request_is_one_botocore_accepts() -> None:
    assert request_problems("sagemaker", "CreateHyperParameterTuningJob", warm_request(PARENT)) == []


def test_a_warm_start_names_its_parent_and_tries_the_parents_best_configuration_first(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(tuning_request(PARENT, max_jobs=4))
    parent_best = emulator.describe_hyper_parameter_tuning_job(PARENT)["BestTrainingJob"]
    emulator.create_hyper_parameter_tuning_job(warm_request(PARENT))

    described = emulator.describe_hyper_parameter_tuning_job(CHILD)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": PARENT}],
        "WarmStartType": "TransferLearning",
    }
    trials = emulator.list_training_jobs_for_hyper_parameter_tuning_job(
        {"HyperParameterTuningJobName": CHILD, "SortBy": "Name", "SortOrder": "Ascending"}
    )["TrainingJobSummaries"]
    assert len(trials) == 4
    assert trials[0]["TunedHyperParameters"] == parent_best["TunedHyperParameters"]
    # The rest search as a cold job does (no other configuration of the parent is repeated).
    assert all(t["TunedHyperParameters"] != parent_best["TunedHyperParameters"] for t in trials[1:])


def _refused(emulator: SageMakerEmulator, request: dict[str, Any]) -> str:
    error = error_of(emulator.create_hyper_parameter_tuning_job, request)
    assert error.code == "ValidationException"
    return str(error)


def _drop_static(name: str) -> Any:
    return lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].pop(name)


def _eta_as_integer(request: dict[str, Any]) -> None:
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["ContinuousParameterRanges"] = []
    ranges["IntegerParameterRanges"].append({"Name": "eta", "MinValue": "0", "MaxValue": "1"})


def _other_objective(request: dict[str, Any]) -> None:
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Minimize",
        "MetricName": "validation:logloss",
    }


def _other_data(request: dict[str, Any]) -> None:
    request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] += "v2/"


@pytest.mark.parametrize(
    ("change", "warm_type", "message"),
    [
        (_other_objective, "TransferLearning", "is not the objective metric validation:auc of parent"),
        (
            _drop_static("num_round"),
            "TransferLearning",
            "static plus tunable hyperparameters (4) must be the",
        ),
        (_eta_as_integer, "TransferLearning", "The type of hyperparameter eta (integer) must be the same"),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
                MaxNumberOfTrainingJobs=748
            ),
            "TransferLearning",
            "(4) and MaxNumberOfTrainingJobs (748) are more than the 750",
        ),
        (_other_data, "IdenticalDataAndAlgorithm", "needs the training image and input data of parent"),
        (lambda r: None, "Bogus", "Member must satisfy enum value set: [IdenticalDataAndAlgorithm, Transfer"),
    ],
)
def test_warm_starts_aws_refuses_are_refused(
    emulator: SageMakerEmulator, s3: Any, change: Any, warm_type: str, message: str
) -> None:
    """automatic-model-tuning-warm-start, "Warm Start Tuning Restrictions", and the API's shapes."""
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(tuning_request(PARENT, max_jobs=4))
    request = warm_request(PARENT, warm_type=warm_type)
    change(request)
    assert message in _refused(emulator, request)
    # The same data and image: IdenticalDataAndAlgorithm is accepted.
    emulator.create_hyper_parameter_tuning_job(warm_request(PARENT, warm_type="IdenticalDataAndAlgorithm"))


def test_a_warm_start_from_no_parent_or_too_many_is_refused(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    assert "The parent tuning job snowsage-nope does not exist" in _refused(
        emulator, warm_request("snowsage-nope")
    )
    assert "length between 1 and 5" in _refused(emulator, warm_request())
    emulator.create_hyper_parameter_tuning_job(tuning_request(PARENT, max_jobs=1, parallel=1))
    assert "length between 1 and 5" in _refused(emulator, warm_request(*[PARENT] * 6))


def test_more_than_ten_static_changes_from_the_parent_are_refused(emulator: SageMakerEmulator) -> None:
    """Each changed static value counts 2 (the restrictions' red -> blue example): 7 changes are 14."""
    parent = tuning_request(PARENT)
    statics = parent["TrainingJobDefinition"]["StaticHyperParameters"]
    statics.update({f"alpha_{index}": "0" for index in range(5)})
    # Recorded as an ended job: no trial could train with these made-up hyperparameters.
    record = {
        "HyperParameterTuningJobName": PARENT,
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": parent["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": parent["TrainingJobDefinition"],
    }
    emulator._tuning._jobs[PARENT.lower()] = TuningJob(PARENT, record)
    child = warm_request(PARENT)
    child["TrainingJobDefinition"]["StaticHyperParameters"] = {
        key: value if key == "objective" else f"{value}1" for key, value in statics.items()
    }
    assert "14 changes of static hyperparameters from parent tuning job" in _refused(emulator, child)
    child["TrainingJobDefinition"]["StaticHyperParameters"] = {
        key: f"{value}1" if key.startswith("alpha_") else value for key, value in statics.items()
    }
    child["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 1
    # 10 changes are accepted (its one trial then fails on the made-up hyperparameters: not the point).
    assert emulator.create_hyper_parameter_tuning_job(child)["HyperParameterTuningJobArn"].endswith(CHILD)


def test_a_parent_still_running_is_refused(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_hyper_parameter_tuning_job(tuning_request(PARENT, max_jobs=1, parallel=1))
    # A parent caught while its trials run (a background job would race the check).
    emulator._tuning._jobs[PARENT.lower()].record["HyperParameterTuningJobStatus"] = "InProgress"
    assert "parent jobs must be Completed, Stopped or Failed" in _refused(emulator, warm_request(PARENT))
