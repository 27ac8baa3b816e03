"""Script mode: a user's ``train.py`` run the way the XGBoost framework container runs it.

The image runs the user's program instead of the algorithm when the ``sagemaker_program``
hyperparameter is set (sagemaker-xgboost-container ``training.py``: ``user_entry_point``). The
SageMaker training toolkit (aws/sagemaker-training-toolkit, ``environment.py``, ``mapping.py``,
``errors.py``) gives it:

* the ``/opt/ml`` layout, here under a temporary folder: ``input/config/{hyperparameters,
  resourceconfig,inputdataconfig}.json``, ``input/data/<channel>/``, ``model/``, ``output/data/``,
  ``code/`` (the ``sagemaker_submit_directory`` archive, unpacked);
* ``SM_MODEL_DIR``, ``SM_CHANNELS``, ``SM_CHANNEL_<NAME>``, ``SM_HPS``, ``SM_HOSTS``, ``SM_CURRENT_HOST``,
  ``SM_OUTPUT_DATA_DIR``, ``SM_NUM_CPUS``, ``SM_USER_ARGS``; the hyperparameters other than the
  ``sagemaker_*`` ones as ``--name value`` arguments, sorted by name;
* a failure as ``ExecuteUserScriptError`` with the exit code, the end of stderr and the command.

* a ``requirements.txt`` beside the program installed before it runs (toolkit ``entry_point.install``
  -> ``modules.install_requirements``: ``python -m pip install -r requirements.txt`` in the code
  folder; docs: sagemaker/latest/dg/xgboost.html "Use XGBoost as a framework", sagemaker-python-sdk
  "Using third-party libraries"), a failed install as ``InstallRequirementsError``.

SageMaker reads the job's metrics from its log with the job's MetricDefinitions, keeping the last
value each regex matched (docs: sagemaker/latest/dg/training-metrics.html). The program runs in the
image's xgboost environment (``.venv-xgboost-<version>``, like the algorithm). The container installs
the requirements into its own Python; the emulator, whose environment is shared, installs them into
the job's own folder (``pip install --target``) and puts it on the program's ``PYTHONPATH`` ahead of
the environment, as an upgrade in the container would shadow the image's version.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess  # nosec B404: runs the user's program with the image environment's interpreter
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.sagemaker.errors import FAILURE_FILE_LIMIT, JobFailure

USER_PROGRAM = "sagemaker_program"
REQUIREMENTS = "requirements.txt"
# toolkit errors.py: the error classes a failed step reports (ExecuteUserScriptError for the program).
EXECUTE_USER_SCRIPT = "ExecuteUserScriptError"
INSTALL_REQUIREMENTS = "InstallRequirementsError"
SUBMIT_DIRECTORY = "sagemaker_submit_directory"
FRAMEWORK_PREFIX = "sagemaker_"  # toolkit params.py: these configure the toolkit, never reach the script
POLL_SECONDS = 0.1


def is_script_mode(hyperparameters: Mapping[str, str]) -> bool:
    return USER_PROGRAM in hyperparameters


def user_hyperparameters(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """The toolkit's decoding: every value as JSON, or all as the given strings when one is not JSON."""
    user = {k: v for k, v in hyperparameters.items() if not k.startswith(FRAMEWORK_PREFIX)}
    try:
        return {key: json.loads(value) for key, value in user.items()}
    except ValueError:
        return dict(user)


def command_arguments(hyperparameters: Mapping[str, Any]) -> list[str]:
    """toolkit mapping.py ``to_cmd_args``: ``--name value`` pairs, sorted by name."""
    arguments: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        arguments += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return arguments


@dataclass
class Layout:
    """``/opt/ml`` under ``root``."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output_data(self) -> Path:
        return self.root / "output" / "data"

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    def create(self) -> None:
        for folder in (self.code, self.model, self.output_data, self.config):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass
class ScriptOutcome:
    exit_code: int | None  # None when stopped
    stopped: str | None
    log: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    command: str = ""


def unpack_source(layout: Layout, archive: bytes, program: str) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source:
        source.extractall(layout.code, filter="data")  # nosec B202: the data filter refuses unsafe members
    if not (layout.code / program).is_file():
        raise JobFailure(
            f"AlgorithmError: ExecuteUserScriptError: the source archive has no {program} "
            f"(sagemaker_program); it holds {sorted(p.name for p in layout.code.iterdir())}"
        )
    if (layout.code / "setup.py").is_file():
        # toolkit _entry_point_type.get: a folder with setup.py is a package, pip-installed whole.
        raise JobFailure(
            "EmulatorError: a source archive with a setup.py (installed as a Python package by the "
            "toolkit) is not emulated: ship the program and a requirements.txt"
        )


def has_requirements(layout: Layout) -> bool:
    """toolkit modules.has_requirements: a requirements.txt at the top of the code folder."""
    return (layout.code / REQUIREMENTS).is_file()


def write_channel(layout: Layout, name: str, files: Sequence[tuple[str, bytes]]) -> None:
    folder = layout.channel(name)
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in files:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _as_variable(value: Any) -> str:
    """toolkit mapping.py ``to_env_vars``: strings as they are, anything else as compact sorted JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def environment(
    layout: Layout,
    *,
    hyperparameters: Mapping[str, Any],
    channels: Sequence[str],
    hosts: Sequence[str],
    current_host: str,
    cpus: int,
) -> dict[str, str]:
    """The toolkit's SM_* variables for this host (environment.py ``to_env_vars``; the config ones
    read from the host's ``input/config``, which ``write_config`` wrote first)."""
    values: dict[str, Any] = {
        "MODEL_DIR": str(layout.model),
        "OUTPUT_DATA_DIR": str(layout.output_data),
        "INPUT_DIR": str(layout.root / "input"),
        "INPUT_CONFIG_DIR": str(layout.config),
        "CHANNELS": sorted(channels),
        "HPS": dict(hyperparameters),
        "HOSTS": list(hosts),
        "CURRENT_HOST": current_host,
        "NUM_CPUS": cpus,
        "NUM_GPUS": 0,
        "MODULE_DIR": str(layout.code),
        "USER_ARGS": command_arguments(hyperparameters),
        "RESOURCE_CONFIG": json.loads((layout.config / "resourceconfig.json").read_text()),
        "INPUT_DATA_CONFIG": json.loads((layout.config / "inputdataconfig.json").read_text()),
    }
    for name in channels:
        values[f"CHANNEL_{name.upper()}"] = str(layout.channel(name))
    for name, value in hyperparameters.items():
        values[f"HP_{name.upper()}"] = value
    return {f"SM_{key}": _as_variable(value) for key, value in values.items()}


def write_config(
    layout: Layout,
    request: Mapping[str, Any],
    hosts: Sequence[str],
    current_host: str,
) -> None:
    """``input/config``: hyperparameters.json, resourceconfig.json (docs: sagemaker/latest/dg/
    your-algorithms-training-algo-running-container, "Distributed Training Configuration"),
    inputdataconfig.json."""
    (layout.config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
    resources = {
        "current_host": current_host,
        "current_instance_type": request["ResourceConfig"]["InstanceType"],
        "hosts": list(hosts),
        "network_interface_name": "eth0",
    }
    (layout.config / "resourceconfig.json").write_text(json.dumps(resources))
    channels = {
        c["ChannelName"]: {
            "ContentType": c.get("ContentType"),
            "TrainingInputMode": c.get("InputMode") or "File",
            "S3DistributionType": c["DataSource"]["S3DataSource"].get(
                "S3DataDistributionType", "FullyReplicated"
            ),
            "RecordWrapperType": c.get("RecordWrapperType", "None"),
        }
        for c in request.get("InputDataConfig") or []
    }
    (layout.config / "inputdataconfig.json").write_text(json.dumps(channels))


def run_process(
    command: Sequence[str],
    *,
    cwd: Path,
    variables: Mapping[str, str],
    logs: Path,
    shown: str,
    seconds_left: float,
    should_stop: Callable[[], bool],
) -> ScriptOutcome:
    """Run ``command`` to its end, a stop request or the deadline (SIGTERM, as SageMaker stops a job).

    ``logs`` is the file name stem of its stdout / stderr; ``shown`` the command as the toolkit reports it.
    """
    stdout_path, stderr_path = logs.with_suffix(".stdout"), logs.with_suffix(".stderr")
    deadline = time.monotonic() + seconds_left
    stopped: str | None = None
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(  # noqa: S603  # nosec B603: no shell; the image's interpreter
            list(command),
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("SM_") and k != "PYTHONPATH"},
                **variables,
                "PYTHONUNBUFFERED": "1",
            },
        )
        while process.poll() is None:
            if should_stop():
                stopped = "Stopped"
            elif time.monotonic() > deadline:
                stopped = "MaxRuntimeExceeded"
            if stopped is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                break
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
    out = stdout_path.read_text(errors="replace")
    err = stderr_path.read_text(errors="replace")
    return ScriptOutcome(
        exit_code=None if stopped else process.returncode,
        stopped=stopped,
        log=out.splitlines() + err.splitlines(),
        stderr_tail=err.strip(),
        command=shown,
    )


def install_requirements(
    python: Path,
    layout: Layout,
    target: Path,
    *,
    seconds_left: float,
    should_stop: Callable[[], bool],
) -> ScriptOutcome:
    """The toolkit's ``python -m pip install -r requirements.txt`` in the code folder, into ``target``.

    pip reads the file as the container's would: its own options (``--index-url``, ``--find-links``,
    ``--no-index``) included, a relative ``--find-links`` folder taken from beside the file. The
    emulator adds ``--target`` (the job's folder, not the shared environment) and turns off pip's
    version check (a request to PyPI the container's pip makes on its own).
    """
    target.mkdir(parents=True, exist_ok=True)
    command = [
        str(python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(target),
        "-r",
        REQUIREMENTS,
    ]
    return run_process(
        command,
        cwd=layout.code,
        variables={"PYTHONNOUSERSITE": "1"},
        logs=layout.root / "pip",
        shown=f"python3 -m pip install -r {REQUIREMENTS}",
        seconds_left=seconds_left,
        should_stop=should_stop,
    )


def run(
    python: Path,
    layout: Layout,
    *,
    program: str,
    hyperparameters: Mapping[str, Any],
    variables: Mapping[str, str],
    seconds_left: float,
    should_stop: Callable[[], bool],
    packages: Path | None = None,
) -> ScriptOutcome:
    """Run the program (``packages``: where its requirements were installed, ahead on its path)."""
    command = [str(python), program, *command_arguments(hyperparameters)]
    path = [str(layout.code)] + ([str(packages)] if packages is not None else [])
    return run_process(
        command,
        cwd=layout.code,
        variables={**variables, "PYTHONPATH": os.pathsep.join(path)},
        logs=layout.root / "program",
        shown=" ".join(["python3", *command[1:]]),
        seconds_left=seconds_left,
        should_stop=should_stop,
    )


def final_metrics(log: Sequence[str], definitions: Sequence[Mapping[str, str]]) -> list[tuple[str, float]]:
    """Each definition's LAST match in the log (its first group as a float), in definition order."""
    found: list[tuple[str, float]] = []
    for definition in definitions:
        pattern = re.compile(definition["Regex"])
        value: float | None = None
        for line in log:
            for match in pattern.finditer(line):
                try:
                    value = float(match.group(1))
                except (IndexError, ValueError):
                    continue
        if value is not None:
            found.append((definition["Name"], value))
    return found


def failure_reason(outcome: ScriptOutcome, error: str = EXECUTE_USER_SCRIPT) -> str:
    """toolkit errors.py ``_CalledProcessError.__str__`` for ``error`` (``ExecuteUserScriptError``,
    ``InstallRequirementsError``), as SageMaker reports it (AlgorithmError, 1024 chars).

    The end of stderr is kept (the traceback's last lines name the error), cut to fit.
    """
    head = f'AlgorithmError: {error}:\nExitCode {outcome.exit_code}\nErrorMessage "'
    tail = f'"\nCommand "{outcome.command}"'
    room = max(0, FAILURE_FILE_LIMIT - len(head) - len(tail))
    message = outcome.stderr_tail[-room:] if room else ""
    return f"{head}{message}{tail}"[:FAILURE_FILE_LIMIT]


def model_files(layout: Layout) -> list[tuple[str, Path]]:
    """Every file the program left in SM_MODEL_DIR, by its path there (all go into model.tar.gz)."""
    return sorted(
        (str(path.relative_to(layout.model)), path) for path in layout.model.rglob("*") if path.is_file()
    )
