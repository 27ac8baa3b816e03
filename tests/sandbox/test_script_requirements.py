"""Script mode's requirements.txt: the training toolkit installs it before the program, into the job's
own folder (PIP_TARGET), never into the image's shared environment; a failed install fails the job as the
toolkit reports it (InstallRequirementsError).

Loopback only: the requirement is a tiny wheel built here and shipped in the source archive, installed
with ``--no-index --find-links wheels`` (pip options in requirements.txt, as a real one may hold them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from typing import Any

from sandbox.sagemaker import SageMakerEmulator, runner
from snowsage.script_mode import metric_definition
from tests.sandbox.emulator_helpers import put, put_training_data, script_request, source_archive

GATE = metric_definition("validation:auc")
PACKAGE = "snowsage_tinydep"
WHEEL = f"{PACKAGE}-1.0-py3-none-any.whl"
USES_IT = f"""
import os, {PACKAGE}
print("tinydep", {PACKAGE}.VALUE, {PACKAGE}.__file__)
print("validation-auc:0.75")
open(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model"), "w").write("m")
"""


def tiny_wheel() -> bytes:
    """A pure-Python wheel of one module, built by hand (the wheel format: PEP 427)."""
    info = f"{PACKAGE}-1.0.dist-info"
    files = {
        f"{PACKAGE}/__init__.py": b"VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for name, data in files.items()
    ]
    record.append(f"{info}/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return buffer.getvalue()


def _run(emulator: SageMakerEmulator, s3: Any, files: dict[str, str | bytes]) -> dict[str, Any]:
    put_training_data(s3)
    put(s3, "code/demo/sourcedir.tar.gz", source_archive(files))
    request = script_request([GATE.model_dump()])
    emulator.create_training_job(request)
    return emulator.describe_training_job(request["TrainingJobName"])


def test_the_requirements_are_installed_for_the_program_and_not_into_the_environment(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    requirements = f"--no-index\n--find-links wheels\n{PACKAGE}==1.0\n"
    job = _run(
        emulator,
        s3,
        {"train.py": USES_IT, "requirements.txt": requirements, f"wheels/{WHEEL}": tiny_wheel()},
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    log = emulator.training_log(job["TrainingJobName"])
    (line,) = [line for line in log if line.startswith("tinydep ")]
    _, value, location = line.split(" ", 2)
    assert value == "42"
    # Installed in the job's own folder (gone with it), never into the shared xgboost environment.
    environment = runner.environment_python("1.7.4").parent.parent
    assert "sagemaker-job-" in location and not location.startswith(str(environment))
    assert not list(environment.glob(f"lib/python*/site-packages/{PACKAGE}"))
    assert [m["Value"] for m in job["FinalMetricDataList"]] == [0.75]


def test_a_requirement_that_cannot_be_installed_fails_the_job_before_the_program_runs(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    requirements = "--no-index\nno-such-package-snowsage==9.9\n"
    job = _run(emulator, s3, {"train.py": USES_IT, "requirements.txt": requirements})
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(
        'AlgorithmError: InstallRequirementsError:\nExitCode 1\nErrorMessage ""\nCommand "'
    )
    assert reason.endswith(' -m pip install -r requirements.txt"')
    log = emulator.training_log(job["TrainingJobName"])
    assert any("No matching distribution found for no-such-package-snowsage==9.9" in line for line in log)
    assert "ModelArtifacts" not in job
    assert not any(line.startswith("tinydep ") for line in emulator.training_log(job["TrainingJobName"]))


def test_without_a_requirements_file_nothing_is_installed(s3: Any, emulator: SageMakerEmulator) -> None:
    job = _run(emulator, s3, {"train.py": f"import {PACKAGE}\n"})
    assert job["TrainingJobStatus"] == "Failed"
    log = emulator.training_log(job["TrainingJobName"])
    assert any(f"ModuleNotFoundError: No module named '{PACKAGE}'" in line for line in log)
