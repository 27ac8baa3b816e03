"""No secret leaks: the Snowflake key, its passphrase and a stray password never reach a log or
a state payload, on the success path or the failure path.

The sandbox's secret holds a freshly generated, passphrase-encrypted RSA key and a "password"
field the code must ignore. After a successful run and a run whose load fails on Snowflake
(the error path most likely to echo connection details), every place an operator can read is
searched: each Lambda invocation's event, logs and payload, CloudWatch Logs, and the execution
input, output and history with data, for the PEM's base64 lines, the unencrypted key's base64
(what the driver is given), the passphrase and the password.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.chaos.injection import SnowflakeFaults
from sandbox.services import Sandbox, SandboxConfig
from tests.reliability.helpers import (
    assert_failed_cleanly,
    assert_one_copy,
    export_quietly,
    history,
    start,
)

pytestmark = pytest.mark.e2e

PASSWORD = "hunter2-RECOGNISABLE-password-5e1f"
PASSPHRASE = "RECOGNISABLE-passphrase-9c1d"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.BestAvailableEncryption(PASSPHRASE.encode()),
).decode()
DER = _KEY.private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def _needles() -> dict[str, str]:
    body = [line for line in PEM.splitlines() if line and not line.startswith("-----")]
    needles = {f"PEM line {number}": line for number, line in enumerate(body)}
    der_b64 = base64.b64encode(DER).decode()
    for start_at in range(0, len(der_b64) - 48, 400):
        needles[f"key base64 @{start_at}"] = der_b64[start_at : start_at + 48]
    needles["key bytes repr"] = repr(DER[64:96])[2:-1]
    needles["key hex"] = DER[64:96].hex()
    needles["passphrase"] = PASSPHRASE
    needles["password"] = PASSWORD
    return needles


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        secret_document={
            "user": "SNOWSAGE_PIPELINE_USER",
            "private_key": PEM,
            "private_key_passphrase": PASSPHRASE,
            "password": PASSWORD,
        },
        template_parameters={"EvaluationThreshold": "0.5"},  # about secrets, not the gate
    )


@pytest.fixture(scope="module")
def runs(sb: Sandbox) -> list[str]:
    """A successful run and a run that fails in LoadPredictions; their execution ARNs."""
    export_quietly(sb, "secrets-ok")
    ok = start(sb, "secrets-ok")
    assert_one_copy(sb, ok, "secrets-ok")

    export_quietly(sb, "secrets-fail")
    with pytest.MonkeyPatch.context() as monkeypatch:
        SnowflakeFaults(sb, monkeypatch).refuse_connections("LoadPredictionsFunction", times=5)
        failed = start(sb, "secrets-fail")
    assert_failed_cleanly(
        sb, failed, state="LoadPredictions", error="SnowflakeUnavailable", export_id="secrets-fail"
    )
    return [ok.execution.arn, failed.execution.arn]


def _leaks(texts: dict[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, needle in _needles().items()
        if needle in text
    ]


def test_the_secret_really_is_used(sb: Sandbox, runs: list[str]) -> None:
    """The search below means something only if the handlers read this secret."""
    assert sb.runtime is not None
    loads = [
        i for i in sb.runtime.invocations if i.function == sb.deployed.functions["LoadPredictionsFunction"]
    ]
    assert any(not invocation.errored for invocation in loads)


def test_no_lambda_log_event_or_payload_holds_a_secret(sb: Sandbox, runs: list[str]) -> None:
    assert sb.runtime is not None
    texts: dict[str, str] = {}
    for number, invocation in enumerate(sb.runtime.invocations):
        where = f"invocation {number} of {invocation.function}"
        texts[f"{where} logs"] = invocation.logs
        texts[f"{where} payload"] = invocation.payload
        texts[f"{where} event"] = json.dumps(invocation.event, default=str)
    assert any("SnowflakeUnavailable" in text for text in texts.values())  # the failure was logged
    assert _leaks(texts) == []


def test_no_cloudwatch_log_holds_a_secret(sb: Sandbox, runs: list[str]) -> None:
    logs = sb.client("logs")
    texts: dict[str, str] = {}
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        name = group["logGroupName"]
        events = logs.filter_log_events(logGroupName=name)["events"]
        texts[name] = "\n".join(event["message"] for event in events)
    # The search means something only if the handlers' output is there: the template's own
    # (empty) log groups would satisfy a mere "some group exists".
    assert sb.runtime is not None
    for function in {invocation.function for invocation in sb.runtime.invocations}:
        assert texts.get(f"/aws/lambda/{function}"), f"no log events from {function}"
    load = sb.deployed.functions["LoadPredictionsFunction"]
    assert "SnowflakeUnavailable" in texts[f"/aws/lambda/{load}"]  # the failure was logged
    assert _leaks(texts) == []


def test_no_state_payload_holds_a_secret(sb: Sandbox, runs: list[str]) -> None:
    sfn = sb.client("stepfunctions")
    texts: dict[str, Any] = {}
    for arn in runs:
        texts[f"{arn} history"] = json.dumps(history(sb, arn, data=True), default=str)
        texts[f"{arn} describe"] = json.dumps(sfn.describe_execution(executionArn=arn), default=str)
    assert _leaks(texts) == []
