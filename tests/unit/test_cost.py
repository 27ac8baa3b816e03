"""snowsage.cost: a run's cost from billed usage, on hand-made histories and states (figures by hand)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from snowsage.cost import (
    BilledTrainingJob,
    FunctionMemory,
    HistoryCosting,
    RunCost,
    RunUsage,
    TuningTrials,
    Unpriced,
    UnpricedUsage,
    WarehouseRate,
    lambda_invocations,
    run_cost,
    run_usage,
    state_transitions,
)
from snowsage.models import RunState
from snowsage.prices import DEFAULT_CREDIT_PRICE_USD

SUCCEEDED_EVENT = Path(__file__).parents[2] / "events" / "record_run" / "succeeded.json"

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MEMORY = {"arn:aws:lambda:us-east-1:123456789012:function:prep": 256, "load": 512}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def history() -> list[dict[str, Any]]:
    """PrepareRun (a Lambda Resource, 2 s), Train (not Lambda), LoadPredictions (lambda:invoke, 4 s)."""
    return [
        {"id": 1, "type": "ExecutionStarted", "timestamp": at(0)},
        {
            "id": 2,
            "type": "TaskStateEntered",
            "timestamp": at(0),
            "stateEnteredEventDetails": {"name": "PrepareRun"},
        },
        {
            "id": 3,
            "type": "LambdaFunctionScheduled",
            "timestamp": at(0),
            "lambdaFunctionScheduledEventDetails": {
                "resource": "arn:aws:lambda:us-east-1:123456789012:function:prep"
            },
        },
        {"id": 4, "type": "LambdaFunctionSucceeded", "timestamp": at(2)},
        {
            "id": 5,
            "type": "TaskStateEntered",
            "timestamp": at(2),
            "stateEnteredEventDetails": {"name": "Train"},
        },
        {
            "id": 6,
            "type": "TaskScheduled",
            "timestamp": at(2),
            "taskScheduledEventDetails": {"resourceType": "sagemaker", "parameters": "{}"},
        },
        {"id": 7, "type": "TaskSucceeded", "timestamp": at(102)},
        {
            "id": 8,
            "type": "TaskStateEntered",
            "timestamp": at(102),
            "stateEnteredEventDetails": {"name": "Load"},
        },
        {
            "id": 9,
            "type": "TaskScheduled",
            "timestamp": at(102),
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "parameters": json.dumps({"FunctionName": "load"}),
            },
        },
        {"id": 10, "type": "TaskSucceeded", "timestamp": at(106)},
        {
            "id": 11,
            "type": "TaskStateEntered",
            "timestamp": at(106),
            "stateEnteredEventDetails": {"name": "RecordRun"},
        },
        {
            "id": 12,
            "type": "TaskScheduled",
            "timestamp": at(106),
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "parameters": '{"FunctionName": "record"}',
            },
        },
    ]


def test_transitions_are_the_states_entered() -> None:
    assert state_transitions(history()) == 4


def test_lambda_invocations_are_the_finished_lambda_tasks() -> None:
    """RecordRun's own task is still running: it is not in the figure."""
    assert lambda_invocations(reversed(history())) == [
        ("arn:aws:lambda:us-east-1:123456789012:function:prep", 2.0),
        ("load", 4.0),
    ]


def test_the_run_cost_by_hand() -> None:
    usage = RunUsage(
        training_jobs=(
            BilledTrainingJob(name="t", instance_type="ml.m5.large", instance_count=2, billable_seconds=90),
        ),
        transform_instance_type="ml.m5.xlarge",
        transform_instance_count=1,
        transform_seconds=360,
        state_transitions=16,
        lambda_gb_seconds=2.5,
        lambda_requests=2,
    )
    cost = run_cost(usage, "us-east-1")
    assert cost.training_usd == pytest.approx(90 * 2 * 0.115 / 3600)
    assert cost.transform_usd == pytest.approx(360 * 0.23 / 3600)
    assert cost.step_functions_usd == pytest.approx(16 * 0.000025)
    assert cost.lambda_usd == pytest.approx(2.5 * 0.0000133334 + 2 * 0.2e-6)
    assert cost.total_usd == pytest.approx(sum(part or 0.0 for part in cost.parts().values()))


def test_a_score_only_run_has_no_training_part() -> None:
    cost = run_cost(RunUsage(state_transitions=3), "us-east-1")
    assert (cost.training_usd, cost.transform_usd) == (None, None)
    assert cost.total_usd == pytest.approx(3 * 0.000025)


def test_an_unpriced_region_or_instance_is_refused() -> None:
    with pytest.raises(UnpricedUsage, match="eu-west-9"):
        run_cost(RunUsage(), "eu-west-9")
    job = BilledTrainingJob(name="t", instance_type="ml.p3.2xlarge", billable_seconds=1)
    with pytest.raises(UnpricedUsage, match=r"ml\.p3\.2xlarge"):
        run_cost(RunUsage(training_jobs=(job,)), "us-east-1")


def test_usage_reads_the_plan_the_jobs_and_the_history() -> None:
    document = json.loads(SUCCEEDED_EVENT.read_text())["state"]
    document["transform"] |= {"started_at": int(at(10).timestamp() * 1000), "ended_at": at(46).isoformat()}
    document["training"]["billable_seconds"] = 7
    state = RunState.model_validate(document)
    usage = run_usage(state, history(), MEMORY.__getitem__)
    assert usage.transform_seconds == 36
    assert usage.state_transitions == 4
    assert usage.lambda_gb_seconds == pytest.approx(2 * 256 / 1024 + 4 * 512 / 1024)
    assert usage.lambda_requests == 2
    (job,) = usage.training_jobs
    assert (job.instance_type, job.instance_count, job.billable_seconds) == ("ml.m5.large", 1, 7)
    assert usage.tuning_trials is None


class FakeLambda:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        self.asked.append(FunctionName)
        return {"MemorySize": MEMORY[FunctionName]}


def test_function_memory_asks_lambda_once_per_function() -> None:
    client = FakeLambda()
    memory = FunctionMemory(client)
    assert [memory("load"), memory("load")] == [512, 512]
    assert client.asked == ["load"]


def test_history_costing_records_no_cost_rather_than_a_wrong_one() -> None:
    state = RunState()
    assert isinstance(HistoryCosting("us-east-1", MEMORY.__getitem__)(state, history()), RunCost)
    unpriced = HistoryCosting("xx-nowhere-1", MEMORY.__getitem__)(state, history())
    assert unpriced == Unpriced(reason="no prices recorded for region xx-nowhere-1")


class ThrottledLambda:
    """GetFunctionConfiguration refused (throttled, or a name the role's scoped ARN does not cover)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": self.code, "Message": "Rate exceeded"}}, "GetFunctionConfiguration"
        )


@pytest.mark.parametrize("code", ["TooManyRequestsException", "AccessDeniedException"])
def test_a_memory_size_that_cannot_be_read_leaves_the_run_unpriced_with_the_reason(code: str) -> None:
    """Costing never fails RecordRun: a Lambda error is the reason COST_USD is NULL, not an exception."""
    costing = HistoryCosting("us-east-1", FunctionMemory(ThrottledLambda(code)))
    result = costing(RunState(), history())
    assert isinstance(result, Unpriced)
    assert result.reason.startswith("the memory size of arn:aws:lambda:us-east-1:123456789012:function:prep")
    assert code in result.reason


def test_a_defect_in_the_costing_is_a_reason_too() -> None:
    def broken(function: str) -> int:
        raise KeyError(function)

    result = HistoryCosting("us-east-1", broken)(RunState(), history())
    assert isinstance(result, Unpriced) and result.reason.startswith("costing failed: KeyError")


# --- a tuned run: every trial's billed seconds ------------------------------------------------


class FakeSageMaker:
    """ListTrainingJobsForHyperParameterTuningJob in pages of ``page`` (NextToken), and the trials'
    DescribeTrainingJob, as the API documents them (the fields snowsage.cost reads)."""

    def __init__(self, trials: dict[str, dict[str, Any]], page: int = 2) -> None:
        self.trials = trials
        self.page = page
        self.listed: list[dict[str, Any]] = []
        self.described: list[str] = []

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        self.listed.append(request)
        assert 1 <= request["MaxResults"] <= 100  # API_ListTrainingJobsForHyperParameterTuningJob
        start = int(request.get("NextToken", 0))
        names = sorted(self.trials)[start : start + self.page]
        summaries = []
        for name in names:
            summary = {"TrainingJobName": name, "TrainingJobStatus": "Completed"}
            summary |= {key: value for key, value in self.trials[name].items() if key.startswith("Training")}
            summaries.append(summary)
        answer: dict[str, Any] = {"TrainingJobSummaries": summaries}
        if start + self.page < len(self.trials):
            answer["NextToken"] = str(start + self.page)
        return answer

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.described.append(TrainingJobName)
        return self.trials[TrainingJobName]


def trial(seconds: int | None, billable: int | None = None) -> dict[str, Any]:
    """A trial that trained ``seconds`` (None: it never started); ``billable``: its spot bill."""
    described: dict[str, Any] = {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}}
    if seconds is not None:
        described |= {"TrainingStartTime": at(100), "TrainingEndTime": at(100 + seconds)}
        described["BillableTimeInSeconds"] = seconds if billable is None else billable
    return described


TRIALS = {
    "snowsage-t-001-aaaa": trial(120, billable=40),
    "snowsage-t-002-bbbb": trial(90, billable=30),
    "snowsage-t-003-cccc": trial(None),  # failed before it started: nothing billed
    "snowsage-t-004-dddd": trial(45, billable=15),
    "snowsage-t-005-eeee": trial(60, billable=20),
}
XLARGE_TWO = 2 * 0.23 / 3600  # ml.m5.xlarge x 2 instances, USD per second (us-east-1)


def tuned_state(max_jobs: int = 5, spot: bool = False) -> RunState:
    document = json.loads(SUCCEEDED_EVENT.read_text())["state"]
    document["training"] |= {"tuning_job": "snowsage-t", "billable_seconds": None}
    document["plan"]["training"]["resource_config"] |= {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}
    document["plan"]["training"]["enable_spot"] = spot
    document["plan"]["tuning"] = {
        "job_name_base": "snowsage-t",
        "config": {},
        "static_hyperparameters": {},
        "max_jobs": max_jobs,
        "max_parallel_jobs": 2,
    }
    return RunState.model_validate(document)


def test_a_tuned_runs_training_is_the_sum_of_its_trials_billed_intervals_read_from_the_listing() -> None:
    """On demand, a trial bills TrainingStartTime..TrainingEndTime: the listing alone prices it."""
    client = FakeSageMaker(TRIALS)
    cost = HistoryCosting("us-east-1", MEMORY.__getitem__, trials=TuningTrials(client))(tuned_state(), [])
    assert isinstance(cost, RunCost)
    assert cost.training_usd == pytest.approx((120 + 90 + 0 + 45 + 60) * XLARGE_TWO)
    assert (cost.tuning_trials, cost.note) == (5, None)
    assert [request.get("NextToken") for request in client.listed] == [None, "2", "4"]
    assert client.described == []  # no call per trial


def test_spot_trials_are_described_up_to_a_cap_and_the_rest_are_an_upper_bound_that_is_noted() -> None:
    client = FakeSageMaker(TRIALS)
    trials = TuningTrials(client, describe_limit=2)
    cost = HistoryCosting("us-east-1", MEMORY.__getitem__, trials=trials)(tuned_state(spot=True), [])
    assert isinstance(cost, RunCost)
    # The first two started trials by their bills, the other two at their whole interval.
    assert client.described == ["snowsage-t-001-aaaa", "snowsage-t-002-bbbb"]
    assert cost.training_usd == pytest.approx((40 + 30 + 0 + 45 + 60) * XLARGE_TWO)
    assert cost.note == (
        "2 of 5 spot trials priced at their whole training time, an upper bound"
        " (RecordRun describes at most 2 for their billed seconds)"
    )


def test_the_calls_are_bounded_by_the_pages_of_max_jobs_and_the_describe_cap() -> None:
    """750 spot trials: 8 listing pages and 25 DescribeTrainingJob, not 750."""
    many = {f"snowsage-t-{index:03d}-aaaa": trial(60, billable=20) for index in range(750)}
    client = FakeSageMaker(many, page=100)
    cost = HistoryCosting("us-east-1", MEMORY.__getitem__, trials=TuningTrials(client))(
        tuned_state(max_jobs=750, spot=True), []
    )
    assert isinstance(cost, RunCost) and cost.tuning_trials == 750
    assert (len(client.listed), len(client.described)) == (8, TuningTrials.DESCRIBE_LIMIT)
    assert cost.note is not None and cost.note.startswith("725 of 750 spot trials")


def test_a_listing_longer_than_max_jobs_records_no_cost_rather_than_part_of_it() -> None:
    client = FakeSageMaker(TRIALS)
    costing = HistoryCosting("us-east-1", MEMORY.__getitem__, trials=TuningTrials(client))
    result = costing(tuned_state(max_jobs=3), [])
    assert isinstance(result, Unpriced) and "more than its 3 trials" in result.reason
    assert client.described == []  # refused before describing any trial


def test_a_trial_sagemaker_refuses_to_describe_leaves_the_run_unpriced_not_unrecorded() -> None:
    class Refusing(FakeSageMaker):
        def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
            raise ClientError(error, "DescribeTrainingJob")

    costing = HistoryCosting("us-east-1", MEMORY.__getitem__, trials=TuningTrials(Refusing(TRIALS)))
    result = costing(tuned_state(spot=True), [])
    assert isinstance(result, Unpriced) and "AccessDeniedException" in result.reason


def test_trials_are_never_priced_as_the_best_trial_alone() -> None:
    """Without a trial reader a tuned run is not priced: the best trial alone would be a wrong figure."""
    result = HistoryCosting("us-east-1", MEMORY.__getitem__)(tuned_state(), [])
    assert isinstance(result, Unpriced)


# --- warehouse time ---------------------------------------------------------------------------


def test_warehouse_time_is_the_sections_seconds_at_the_sizes_credits_and_the_credit_price() -> None:
    document = json.loads(SUCCEEDED_EVENT.read_text())["state"]
    document["load"]["warehouse_seconds"] = 3.5
    document["published"]["warehouse_seconds"] = 1.25
    state = RunState.model_validate(document)
    usage = run_usage(state, history(), MEMORY.__getitem__)
    assert usage.warehouse_seconds == 4.75
    default = run_cost(usage, "us-east-1")
    assert default.warehouse_usd == pytest.approx(4.75 * 1 / 3600 * DEFAULT_CREDIT_PRICE_USD)
    medium = run_cost(usage, "us-east-1", WarehouseRate(size="medium", credit_price_usd=3.0))
    assert medium.warehouse_usd == pytest.approx(4.75 * 4 / 3600 * 3.0)
    assert medium.total_usd == pytest.approx(sum(part or 0.0 for part in medium.parts().values()))
    assert medium.warehouse_seconds == 4.75


def test_a_run_without_statements_has_no_warehouse_part_and_an_unknown_size_is_refused() -> None:
    assert run_cost(RunUsage(), "us-east-1").warehouse_usd is None
    with pytest.raises(UnpricedUsage, match="HUGE"):
        run_cost(RunUsage(warehouse_seconds=1.0), "us-east-1", WarehouseRate(size="HUGE"))
