"""The benchmarks that run the pipeline in the sandbox: memory, payload, end to end, cost.

Details: bench/README.md, "sandbox_bench.py".
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import bare, lambda_packages, verdicts
from bench.stats import median
from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.aws.executions import StateSpan, largest_state_io
from sandbox.sagemaker.tuning import TRAINING_JOB_MEMBERS
from sandbox.services import SANDBOX_CREDENTIALS, Sandbox, SandboxConfig
from sandbox.snowflake.export import DEFAULT_ROWS_PER_FILE, export_dataset, file_count
from tooling.lambda_functions import ROOT
from tooling.sample_data import load_sample_data

DATASET = "merchant_risk"
SEED = 7
Event = dict[str, Any]
REPLAY_CHILD = Path(__file__).with_name("replay_child.py")
# The transaction-level example dataset and how `python -m sandbox run` sets it up for it.
TXN_DATASET = "txn_refund"
TXN_SETUP_SQL = ROOT / "snowflake" / "examples" / "txn_refund.sql"
# The synthetic matrix of the large comparison: rows x features, and rounds (instead of num_round).
# Few rounds: xgb.train still takes most of both sides' wall time (compute matters), and reading,
# parsing and handing the matrix over (where the emulator's own per-row code is) keep a share large
# enough that a regression there moves the ratio; the document prints the split as measured.
LARGE_FEATURES = 20
LARGE_ROUNDS = 5
# Rows per export file in the memory / end-to-end runs: fixed, so the file count grows with the data
# (10,000 transactions: a file per section; 10,000,000: some 75 files, a manifest far below
# PrepareRun's 1 MiB cap; one moto PUT per file keeps the count within the bench's budget).
MEMORY_ROWS_PER_FILE = 1_000


@dataclass
class Replay:
    function: str
    rows: int
    peak_rss_mb: float
    import_rss_mb: float
    call_traced_peak_kb: int
    in_process_seconds: float
    errored: bool
    error: str | None


@dataclass
class RunFigures:
    transactions: int
    status: str
    rows_scored: int | None
    wall_seconds: float
    execution_seconds: float
    training_compute: float
    transform_compute: float
    training_timings: dict[str, float]
    transform_timings: dict[str, float]
    cost: dict[str, float | None] | None  # ML_RUNS COST_* (sandbox.cost.read_run_cost)
    transitions: int
    training_job: str
    transform_job: str
    dataset: str = DATASET
    rows_trained: int = 0
    rounds: int = 0
    replays: list[Replay] = field(default_factory=list)
    files: int = 0
    export_bytes: int = 0
    manifest_bytes: int = 0
    export_seconds: float = 0.0
    state_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def other_seconds(self) -> float:
        """The loop's own cost: the run's wall time minus the emulator's training and transform compute."""
        return self.wall_seconds - self.training_compute - self.transform_compute


@dataclass
class Comparison:
    what: str
    emulator: list[float]
    bare: list[float]
    goal: float | None  # None: a diagnostic row (where the time goes), no verdict
    note: str = ""

    @property
    def ratio(self) -> float:
        return median(self.emulator) / median(self.bare)


@dataclass
class PayloadFigures:
    target_files: int
    files: dict[str, int]
    manifest_bytes: int
    status: str
    largest_bytes: int
    largest_state: str
    seconds: float
    failed_state: str | None = None
    error: str | None = None


@dataclass
class SandboxResults:
    runs: list[RunFigures] = field(default_factory=list)
    warmup: RunFigures | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    comparison_rows: int = 0
    comparison_rounds: str = ""
    large: list[Comparison] = field(default_factory=list)
    large_shape: tuple[int, int] = (0, 0)
    large_rounds: str = ""
    xgboost_versions: str = ""
    txn_runs: list[RunFigures] = field(default_factory=list)
    payloads: list[PayloadFigures] = field(default_factory=list)
    payload_merchants: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# --- helpers on a running sandbox ------------------------------------------------------------------


def _logical_ids(sb: Sandbox) -> dict[str, str]:
    return {physical: logical for logical, physical in sb.deployed.resources.items()}


def _function_env(sb: Sandbox, physical: str) -> dict[str, str]:
    config = sb.client("lambda").get_function_configuration(FunctionName=physical)
    variables = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        **SANDBOX_CREDENTIALS,
        **variables,
        "AWS_LAMBDA_FUNCTION_NAME": physical,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_ENDPOINT_URL": sb.endpoint_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def replay_module(
    module: Path,
    paths: Sequence[Path],
    env: dict[str, str],
    event: Event,
    blocked: Sequence[str] = (),
) -> dict[str, Any]:
    """Import ``module`` in a fresh interpreter (``paths`` first on sys.path, only ``env`` set, the
    ``blocked`` modules not importable) and call its handler once with ``event``; the child's report
    (peak RSS, traced peak, error)."""
    block = ["--block", ",".join(blocked)] if blocked else []
    done = subprocess.run(
        [sys.executable, str(REPLAY_CHILD), *block, str(module), *map(str, paths)],
        input=json.dumps(event),
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"replaying {module} failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def replay(sb: Sandbox, invocation: Any, rows: int) -> Replay:
    """Invoke the recorded event again in a fresh interpreter; read its peak RSS."""
    runtime = sb.runtime
    assert runtime is not None
    spec = runtime.functions[invocation.function]
    module = spec.code_dir / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")
    report = replay_module(
        module,
        [spec.code_dir, *spec.layer_dirs],
        _function_env(sb, invocation.function),
        invocation.event,
        lambda_packages.blocked_modules(spec.layer_dirs),
    )
    return Replay(
        function=_logical_ids(sb).get(invocation.function, invocation.function),
        rows=rows,
        peak_rss_mb=report["peak_rss_kb"] / 1024,
        import_rss_mb=report["import_rss_kb"] / 1024,
        call_traced_peak_kb=int(report["call_traced_peak_kb"]),
        in_process_seconds=invocation.duration,
        errored=bool(report["errored"]),
        error=report["error"],
    )


@contextlib.contextmanager
def first_events(
    transactions: int = 10_000,
) -> Iterator[tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]]:
    """A running sandbox, and the first event each function received in it, by logical id.

    One run of the sample data at ``transactions`` (every function of the success path), then one
    execution started by hand on a manifest that does not exist: PrepareRun fails, the execution
    ends FAILED and its status-change event invokes RecordExecutionOutcomeFunction. Also yields
    each function's environment (the deployment's variables, the sandbox's endpoint), for the
    cold-start samples, which run while the sandbox is up.
    """
    with Sandbox(SandboxConfig(quiet=True)) as sb:
        assert sb.runtime is not None
        measured_run(sb, transactions, replays=False, export_id=f"bench-cold-start-{transactions}")
        missing = f"s3://{sb.bucket}/exports/{DATASET}/20000101t000000z/manifest.json"
        failed = pipeline_run.start_by_hand(sb, {"manifest": missing}, name="bench-cold-start-failed")
        if failed.status == "SUCCEEDED":
            raise RuntimeError("the run on a missing manifest succeeded")
        moto_patches.wait_for_event_deliveries()
        logical = _logical_ids(sb)
        events: dict[str, Event] = {}
        environments: dict[str, dict[str, str]] = {}
        for invocation in sb.runtime.invocations:
            name = logical.get(invocation.function, invocation.function)
            if name not in events:
                events[name] = invocation.event
                environments[name] = _function_env(sb, invocation.function)
        yield events, environments


def _job_timings(describe: dict[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in describe.get("EmulatorTimings", {}).items()}


def _load(sb: Sandbox, transactions: int, merchants: int | None = None) -> None:
    with sb.snowflake_connection() as connection:
        load_sample_data(
            connection,
            transactions,
            SEED,
            s3_client=sb.client("s3"),
            bucket=sb.bucket,
            n_merchants=merchants,
        )


def measured_run(
    sb: Sandbox,
    transactions: int,
    *,
    replays: bool,
    dataset: str = DATASET,
    rows_per_file: int = MEMORY_ROWS_PER_FILE,
    export_id: str | None = None,
) -> RunFigures:
    """Load the sample data, export it at ``rows_per_file`` and follow the run the S3 event starts.

    As ``pipeline_run.run_from_export`` (the production path: EXPORT_DATASET, then the manifest's event),
    with the export's rows per file fixed by the bench.
    """
    assert sb.runtime is not None
    assert sb.emulator is not None
    _load(sb, transactions)
    first = len(sb.runtime.invocations)
    started = time.perf_counter()
    with sb.snowflake_connection() as connection:
        manifest = export_dataset(
            connection,
            sb.client("s3"),
            sb.bucket,
            dataset,
            export_id or f"bench-{transactions}",
            rows_per_file=rows_per_file,
        )
    export_seconds = time.perf_counter() - started
    result = pipeline_run.follow_export(sb, manifest, timings={"export": export_seconds})
    wall = time.perf_counter() - started
    invocations = sb.runtime.invocations[first:]
    output = result.execution.output or {}
    if "training" not in output or "transform" not in output:
        raise RuntimeError(
            f"{dataset} run at {transactions:,} transactions: {result.status}"
            f" ({result.execution.failed_state}: {result.execution.error})"
        )
    train_describe = sb.emulator.describe_training_job(output["training"]["job_name"])
    transform_describe = sb.emulator.describe_transform_job(output["transform"]["job_name"])
    figures = RunFigures(
        transactions=transactions,
        status=result.status,
        rows_scored=result.rows_scored,
        wall_seconds=wall,
        execution_seconds=result.execution.seconds or 0.0,
        training_compute=_job_timings(train_describe).get("compute_seconds", 0.0),
        transform_compute=_job_timings(transform_describe).get("compute_seconds", 0.0),
        training_timings=_job_timings(train_describe),
        transform_timings=_job_timings(transform_describe),
        cost=result.cost,
        transitions=result.execution.transitions,
        training_job=str(output["training"]["job_name"]),
        transform_job=str(output["transform"]["job_name"]),
        dataset=dataset,
        rows_trained=int(result.manifest.get("train", {}).get("rows") or 0),
        rounds=len(sb.emulator.training_log(str(output["training"]["job_name"]))),
        files=sum(file_count(manifest[section]) for section in SECTIONS if section in manifest),
        export_bytes=sum(section_bytes(manifest[section]) for section in SECTIONS if section in manifest),
        manifest_bytes=len(json.dumps(manifest).encode()),
        export_seconds=export_seconds,
        state_seconds=state_seconds(result.execution.spans),
    )
    if replays:
        for invocation in invocations:
            figures.replays.append(replay(sb, invocation, transactions))
    return figures


SECTIONS = ("train", "validation", "score")


def section_bytes(section: dict[str, Any]) -> int:
    """A manifest section's data bytes: version 2's ``bytes``, or the sum of version 1's file sizes."""
    files = section["files"]
    if isinstance(files, list):
        return sum(int(item["size"]) for item in files)
    return int(section["bytes"])


def state_seconds(spans: Sequence[StateSpan]) -> dict[str, float]:
    """Seconds per state of one execution (a state entered twice, e.g. a retried Wait, summed)."""
    found: dict[str, float] = {}
    for span in spans:
        found[span.name] = found.get(span.name, 0.0) + (span.seconds or 0.0)
    return found


def _train_request(describe: dict[str, Any]) -> dict[str, Any]:
    """The CreateTrainingJob request of the described job (its name aside)."""
    keys = (*TRAINING_JOB_MEMBERS, "HyperParameters")
    return {key: describe[key] for key in keys if key in describe}


def _transform_request(describe: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "ModelName",
        "TransformInput",
        "TransformOutput",
        "TransformResources",
        "DataProcessing",
        "BatchStrategy",
        "MaxPayloadInMB",
    )
    return {key: describe[key] for key in keys}


def _on_thread(body: Callable[[int], None], label: str) -> Callable[[int], None]:
    """Run ``body`` on a fresh thread, as the emulator runs each job (same OpenMP set-up)."""

    def run(attempt: int) -> None:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                body(attempt)
            except BaseException as exc:  # re-raised on the calling thread
                errors.append(exc)

        worker = threading.Thread(target=target, name=f"bench-bare-{label}-{attempt}")
        worker.start()
        worker.join()
        if errors:
            raise errors[0]

    return run


def interleaved_jobs(
    sb: Sandbox,
    train_request: dict[str, Any],
    transform_request: dict[str, Any],
    label: str,
    repeats: int,
) -> tuple[list[Comparison], str]:
    """Run the emulator's training and transform jobs and their bare equivalents ``repeats`` times.

    Both sides run the same xgboost: the emulator in its pool's worker of the image's environment,
    the bare code in a worker of that same environment (``bare.start_worker``), started and warmed
    before the first job, as the emulator's pool workers are by the pipeline run. Both are timed by
    the same wall clock around the same work: for the emulator, from the Create* call (the job
    submitted) until ``wait`` returns it ended; for the bare code, from starting its thread (it
    reads the inputs) until the thread has written the model or the predictions and ended. Neither
    side's own phase timings enter the job figures. Interleaved in ABBA order (the emulator first
    on even attempts, the bare code first on odd ones), so neither side always runs on the warmer
    caches or right after the other's garbage; the bare code runs on a fresh thread per job, as the
    emulator runs its jobs. Both sides use the nthread the emulator picks (``training.threads_for``),
    read and write the same S3 objects through the same boto3 client, and score the same model (the
    emulator's, which the image's xgboost reads on both sides). Returns the comparisons and the
    rounds trained.
    """
    emulator = sb.emulator
    assert emulator is not None
    s3 = emulator.s3  # the emulator's own client (the sandbox's in-process S3): the same on both sides
    input_uri = transform_request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    describe = {**train_request, "HyperParameters": dict(train_request["HyperParameters"])}

    model_data = emulator.describe_model(transform_request["ModelName"])["PrimaryContainer"]["ModelDataUrl"]
    worker = bare.start_worker(train_request["AlgorithmSpecification"]["TrainingImage"])

    compute_train, bare_compute_train = [], []
    compute_score, bare_compute_score = [], []
    rounds: set[tuple[str, int]] = set()

    def emulator_training(attempt: int) -> None:
        name = f"snowsage-bench-{label}-{attempt}"
        emulator.create_training_job({**train_request, "TrainingJobName": name})
        done = emulator.wait(name, timeout=1800)
        if done["TrainingJobStatus"] != "Completed":
            raise RuntimeError(f"re-run of the training job failed: {done.get('FailureReason')}")
        compute_train.append(_job_timings(done)["compute_seconds"])
        rounds.add(("emulator", len(emulator.training_log(name))))

    def bare_training(attempt: int) -> None:
        plain = bare.train(s3, describe, emulator.nthread, worker)
        bare_compute_train.append(plain.compute_seconds)
        rounds.add(("bare", plain.rounds))

    def emulator_transform(attempt: int) -> None:
        name = f"snowsage-bench-score-{label}-{attempt}"
        # under predictions/: the SageMaker role may write there and only there (least privilege)
        output = {
            **transform_request["TransformOutput"],
            "S3OutputPath": f"s3://{sb.bucket}/predictions/bench/{name}/",
        }
        emulator.create_transform_job(
            {**transform_request, "TransformJobName": name, "TransformOutput": output}
        )
        done = emulator.wait(name, timeout=1800)
        if done["TransformJobStatus"] != "Completed":
            raise RuntimeError(f"re-run of the transform job failed: {done.get('FailureReason')}")
        compute_score.append(_job_timings(done)["compute_seconds"])

    def bare_transform(attempt: int) -> None:
        output = f"s3://{sb.bucket}/predictions/bench/bare-score-{label}-{attempt}/"
        plain = bare.transform(s3, model_data, input_uri, output, nthread=emulator.nthread, worker=worker)
        bare_compute_score.append(plain.compute_seconds)

    walls: dict[str, list[float]] = {"job_train": [], "bare_train": [], "job_score": [], "bare_score": []}
    try:
        for attempt in range(repeats):
            pairs = [
                (("job_train", emulator_training), ("bare_train", _on_thread(bare_training, label))),
                (("job_score", emulator_transform), ("bare_score", _on_thread(bare_transform, label))),
            ]
            for emulator_side, bare_side in pairs:
                for key, side in (bare_side, emulator_side) if attempt % 2 else (emulator_side, bare_side):
                    walls[key].append(_wall(side, attempt))
    finally:
        worker.close()
    note = ", ".join(f"{who} {count}" for who, count in sorted(rounds))
    return [
        Comparison(
            "training: job submitted -> complete vs read -> model written",
            walls["job_train"],
            walls["bare_train"],
            verdicts.TRAINING_GOAL,
        ),
        Comparison("training: xgboost.train only", compute_train, bare_compute_train, None),
        Comparison(
            "transform: job submitted -> complete vs model read -> predictions written",
            walls["job_score"],
            walls["bare_score"],
            verdicts.TRANSFORM_GOAL,
        ),
        Comparison("transform: prediction only", compute_score, bare_compute_score, None),
    ], note


def _wall(side: Callable[[int], None], attempt: int) -> float:
    """Wall seconds of one side of a comparison, start to end (the same clock for both sides)."""
    started = time.perf_counter()
    side(attempt)
    return time.perf_counter() - started


def xgboost_versions(sb: Sandbox, run: RunFigures) -> str:
    """Which xgboost both sides of the comparison run: the image's, each in a worker process of
    its environment (the version that worker reports)."""
    from sandbox.sagemaker.runner import image_tag

    assert sb.emulator is not None
    image = sb.emulator.describe_training_job(run.training_job)["AlgorithmSpecification"]["TrainingImage"]
    worker = bare.start_worker(image)
    try:
        version = worker.request("version")["xgboost"]
    finally:
        worker.close()
    return f"xgboost {version} (image {image_tag(image)}) on both sides, each in a worker of its environment"


def compare_jobs(sb: Sandbox, run: RunFigures, repeats: int) -> tuple[list[Comparison], str]:
    """Re-run the last run's training and transform jobs, interleaved with the bare equivalents."""
    emulator = sb.emulator
    assert emulator is not None
    return interleaved_jobs(
        sb,
        _train_request(emulator.describe_training_job(run.training_job)),
        _transform_request(emulator.describe_transform_job(run.transform_job)),
        str(run.transactions),
        repeats,
    )


def _synthetic(rows: int, features: int, seed: int) -> tuple[Any, Any]:
    """A float32 feature matrix and a binary label with a learnable, partly non-linear signal."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    logit = x[:, 0] + 0.7 * x[:, 1] - 0.5 * x[:, 2] * x[:, 3] + 0.3 * np.sin(3 * x[:, 4])
    y = (logit + rng.normal(size=rows) > 0).astype(np.float32)
    return x, y


def _csv(columns: dict[str, Any]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    pacsv.write_csv(
        pa.table(columns),
        buffer,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
    )
    return buffer.getvalue()


def large_comparison(
    sb: Sandbox, run: RunFigures, rows: int, repeats: int
) -> tuple[list[Comparison], tuple[int, int], str]:
    """The same interleaved comparison on a synthetic matrix where compute matters.

    ``rows`` x LARGE_FEATURES training rows (label first), a quarter as many validation rows and
    ``rows`` score rows (id first), written as CSV to the sandbox bucket; the pipeline run's
    training request and hyperparameters with num_round = LARGE_ROUNDS (so the run fits the bench's
    budget), and its transform request on the new model and files.
    """
    emulator = sb.emulator
    assert emulator is not None
    s3 = sb.client("s3")
    # exports/ and models/: what the SageMaker role may read and write (no manifest: no run starts)
    prefix = f"exports/bench-large-{rows}"
    for channel, count, seed in (("train", rows, 11), ("validation", rows // 4, 12), ("score", rows, 13)):
        x, y = _synthetic(count, LARGE_FEATURES, seed)
        first: dict[str, Any] = (
            {"id": [f"r{i:07d}" for i in range(count)]} if channel == "score" else {"y": y}
        )
        body = _csv({**first, **{f"x{i}": x[:, i] for i in range(LARGE_FEATURES)}})
        s3.put_object(
            Bucket=sb.bucket, Key=f"{prefix}/{channel}/part-0.csv", Body=body, ContentType="text/csv"
        )
    base = _train_request(emulator.describe_training_job(run.training_job))
    channels = []
    for channel in base["InputDataConfig"]:
        source = {
            **channel["DataSource"]["S3DataSource"],
            "S3Uri": f"s3://{sb.bucket}/{prefix}/{channel['ChannelName']}/",
        }
        channels.append({**channel, "DataSource": {"S3DataSource": source}})
    train_request = {
        **base,
        "InputDataConfig": channels,
        "OutputDataConfig": {
            **base["OutputDataConfig"],
            "S3OutputPath": f"s3://{sb.bucket}/models/bench-large-{rows}/",
        },
        "HyperParameters": {**base["HyperParameters"], "num_round": str(LARGE_ROUNDS)},
    }
    seed_job = f"snowsage-bench-large-{rows}-model"
    emulator.create_training_job({**train_request, "TrainingJobName": seed_job})
    done = emulator.wait(seed_job, timeout=1800)
    if done["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"large-matrix training failed: {done.get('FailureReason')}")
    transform_base = _transform_request(emulator.describe_transform_job(run.transform_job))
    model_name = f"snowsage-bench-large-{rows}"
    emulator.create_model(
        {
            "ModelName": model_name,
            "ExecutionRoleArn": base["RoleArn"],
            "PrimaryContainer": {
                "Image": base["AlgorithmSpecification"]["TrainingImage"],
                "ModelDataUrl": done["ModelArtifacts"]["S3ModelArtifacts"],
            },
        }
    )
    source = {
        **transform_base["TransformInput"]["DataSource"]["S3DataSource"],
        "S3Uri": f"s3://{sb.bucket}/{prefix}/score/",
    }
    transform_request = {
        **transform_base,
        "ModelName": model_name,
        "TransformInput": {**transform_base["TransformInput"], "DataSource": {"S3DataSource": source}},
    }
    comparisons, note = interleaved_jobs(sb, train_request, transform_request, f"large-{rows}", repeats)
    return comparisons, (rows, LARGE_FEATURES), note


def txn_refund_runs(transactions: list[int]) -> list[RunFigures]:
    """End-to-end runs of the transaction-level dataset, in a sandbox set up as the CLI's ``run`` does.

    ``python -m sandbox run --setup-sql snowflake/examples/txn_refund.sql --dataset txn_refund
    --sample-rows N --threshold 0.5``: the sample transactions, the dataset's SQL, then
    EXPORT_DATASET and the S3 event (pipeline_run.run_from_export), once per size.
    """
    found: list[RunFigures] = []
    config = SandboxConfig(quiet=True)  # txn_refund's row sets its own threshold
    with Sandbox(config) as sb:
        pipeline_run.apply_user_sql(sb, [TXN_SETUP_SQL])
        for count in sorted(transactions):
            started = time.perf_counter()
            found.append(
                measured_run(
                    sb, count, replays=False, dataset=TXN_DATASET, rows_per_file=DEFAULT_ROWS_PER_FILE
                )
            )
            _say(
                f"{TXN_DATASET} {count:,} transactions: {found[-1].status}, {found[-1].wall_seconds:.1f} s"
                f" ({time.perf_counter() - started:.1f} s with the load)"
            )
    return found


def payload_runs(sb: Sandbox, targets: list[int]) -> tuple[int, list[PayloadFigures]]:
    """Full runs on one dataset exported as 1 file per section, then ~target files in total."""
    top = max(targets)
    merchants = max(200, math.ceil(top / 1.8))  # score + train + validation hold ~1.8 rows a merchant
    _load(sb, merchants * 20, merchants)
    found: list[PayloadFigures] = []
    for target in sorted(targets):
        started = time.perf_counter()
        with sb.snowflake_connection() as connection:
            probe_total = 1.8 * merchants
            rows_per_file = 10**9 if target <= 3 else max(1, round(probe_total / target))
            manifest = export_dataset(
                connection,
                sb.client("s3"),
                sb.bucket,
                DATASET,
                f"files-{target}",
                rows_per_file=rows_per_file,
            )
        result = pipeline_run.follow_export(sb, manifest)
        largest, where = largest_state_io(sb.client("stepfunctions"), result.execution.arn)
        found.append(
            PayloadFigures(
                target_files=target,
                files={
                    section: file_count(manifest[section]) for section in ("train", "validation", "score")
                },
                manifest_bytes=len(json.dumps(manifest).encode()),
                status=result.status,
                largest_bytes=largest,
                largest_state=where,
                seconds=time.perf_counter() - started,
                failed_state=result.execution.failed_state,
                error=result.execution.error,
            )
        )
        _say(f"payload: {sum(found[-1].files.values())} files -> {largest} B ({where}), {result.status}")
    return merchants, found


def run(
    memory_rows: list[int],
    e2e_rows: list[int],
    payload_files: list[int],
    repeats: int,
    *,
    large_rows: int = 0,
    large_repeats: int = 3,
    txn_rows: list[int] | None = None,
) -> SandboxResults:
    results = SandboxResults()
    with Sandbox(SandboxConfig(quiet=True)) as sb:
        sizes = sorted(set(memory_rows) | set(e2e_rows))
        if sizes:
            # The sandbox's own first run (in-process handler imports, first connections): not a
            # size of the series; the fixed cost is read from the measured run at the smallest size.
            started = time.perf_counter()
            results.warmup = measured_run(sb, sizes[0], replays=False, export_id=f"bench-warmup-{sizes[0]}")
            results.seconds["warm-up run"] = time.perf_counter() - started
        for transactions in sizes:
            started = time.perf_counter()
            figures = measured_run(sb, transactions, replays=transactions in memory_rows)
            results.runs.append(figures)
            results.seconds[f"run {transactions:,}"] = time.perf_counter() - started
            _say(
                f"run {transactions:,} transactions: {figures.status}, {figures.wall_seconds:.1f} s"
                f" (+ replays, {results.seconds[f'run {transactions:,}']:.1f} s in all)"
            )
            if e2e_rows and transactions == max(e2e_rows):
                started = time.perf_counter()
                results.comparisons, results.comparison_rounds = compare_jobs(sb, figures, repeats)
                results.comparison_rows = transactions
                results.xgboost_versions = xgboost_versions(sb, figures)
                results.seconds["bare comparisons"] = time.perf_counter() - started
                if large_rows:
                    started = time.perf_counter()
                    results.large, results.large_shape, results.large_rounds = large_comparison(
                        sb, figures, large_rows, large_repeats
                    )
                    results.seconds[f"bare comparisons, {large_rows:,}-row matrix"] = (
                        time.perf_counter() - started
                    )
        if payload_files:
            started = time.perf_counter()
            results.payload_merchants, results.payloads = payload_runs(sb, payload_files)
            results.seconds["payload runs"] = time.perf_counter() - started
    if txn_rows:
        started = time.perf_counter()
        results.txn_runs = txn_refund_runs(txn_rows)
        results.seconds[f"{TXN_DATASET} runs"] = time.perf_counter() - started
    return results
