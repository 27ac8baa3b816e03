"""Real-time endpoints: endpoint configs, endpoints, InvokeEndpoint, and UpdateEndpoint's blue/green
deployment with auto-rollback, as SageMaker runs them for the built-in XGBoost container.

Details: sandbox/sagemaker/README.md, "endpoints.py".
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.sagemaker import invocations, runner, s3io, transform
from sandbox.sagemaker.errors import SageMakerError, validation_error

if TYPE_CHECKING:
    from sandbox.sagemaker.emulator import SageMakerEmulator

NAMESPACE = "AWS/SageMaker"
# API_runtime_InvokeEndpoint: Body at most 6 MB; a serverless endpoint takes 4 MB (serverless-endpoints,
# "Feature exclusions" and quotas: "maximum request payload size of 4 MB").
PAYLOAD_LIMIT = 6 * 1024 * 1024
SERVERLESS_PAYLOAD_LIMIT = 4 * 1024 * 1024
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
# How often a deployment looks at its alarms and its clock while it bakes (CloudWatch evaluates
# an alarm about once a minute; the sandbox's baking periods are seconds).
TICK_SECONDS = 0.1
SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})
HEALTH_CHECK_FAILURE = (
    "The primary container for production variant {variant} did not pass the ping health check. Please"
    " check CloudWatch logs for this endpoint. ({detail})"
)


def _now() -> datetime:
    return datetime.now(UTC)


class CloudWatchLike(Protocol):
    """Where metrics go and alarm states come from (sandbox.aws.cloudwatch.CloudWatchStandIn)."""

    def put_metric_data(self, namespace: str, data: list[dict[str, Any]]) -> None: ...
    def evaluate(self, alarm_name: str) -> str | None: ...


class NoCloudWatch:
    """No metrics kept, no alarm ever in ALARM: an emulator on its own (unit tests)."""

    def put_metric_data(self, namespace: str, data: list[dict[str, Any]]) -> None:
        return None

    def evaluate(self, alarm_name: str) -> str | None:
        return None


class InvokeError(SageMakerError):
    """An InvokeEndpoint error: ``status`` is its HTTP status, ``fields`` its members besides Message."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(code, message)
        self.status = status
        self.fields = fields


@dataclass(frozen=True)
class InvokeResult:
    body: bytes
    content_type: str
    variant: str


@dataclass(frozen=True)
class FleetFault:
    """A fleet whose container answers every invocation with ``status`` (emulator-only, for tests)."""

    status: int
    message: str


class Fleet:
    """One config's variant, its model loaded in a worker of the image's xgboost."""

    def __init__(self, config: dict[str, Any], model: dict[str, Any], fault: FleetFault | None) -> None:
        self.config_name = str(config["EndpointConfigName"])
        self.variant = copy.deepcopy(config["ProductionVariants"][0])
        self.container = copy.deepcopy(model["PrimaryContainer"])
        self.environment = dict(self.container.get("Environment") or {})
        self.fault = fault
        self.scorer: transform.Scorer | None = None
        self.setup_seconds = 0.0
        self.invoked = False
        self._stack = ExitStack()
        self._lock = threading.Lock()
        # Invocations routed to this fleet and not yet answered: close() drains them first, as
        # blue/green lets the old fleet finish what it was sent before it goes.
        self._users = 0
        self._idle = threading.Condition()

    @property
    def name(self) -> str:
        return str(self.variant["VariantName"])

    @property
    def serverless(self) -> bool:
        return "ServerlessConfig" in self.variant

    def start(self, s3: Any) -> None:
        """Load the model; SageMakerError-free: a failure is a ``transform.TransformError``."""
        started = time.perf_counter()
        version = runner.xgboost_version(str(self.container["Image"]))
        runner.environment_python(version)
        worker = self._stack.enter_context(runner.POOL.borrow(version))
        bucket, key = s3io.parse_s3_uri(str(self.container["ModelDataUrl"]))
        self.scorer = transform.Scorer.load(worker, s3io.get_bytes(s3, bucket, key))
        self.setup_seconds = time.perf_counter() - started

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[invocations.ContainerAnswer, float]:
        """The container's answer and the seconds it took (ModelLatency)."""
        with self._lock:
            started = time.perf_counter()
            if self.fault is not None:
                answer = invocations.ContainerAnswer(
                    self.fault.status, self.fault.message.encode(), "text/plain"
                )
            else:
                assert self.scorer is not None
                answer = invocations.answer(self.scorer, body, content_type, accept, self.environment)
            return answer, time.perf_counter() - started

    def acquire(self) -> None:
        with self._idle:
            self._users += 1

    def release(self) -> None:
        with self._idle:
            self._users -= 1
            self._idle.notify_all()

    def close(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._users == 0)
        self._stack.close()


@dataclass
class _Endpoint:
    record: dict[str, Any]
    tags: list[dict[str, str]]
    blue: Fleet | None = None
    green: Fleet | None = None
    green_share: float = 0.0
    routed: int = 0
    in_flight: int = 0
    deleted: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def name(self) -> str:
        return str(self.record["EndpointName"])

    @property
    def status(self) -> str:
        return str(self.record["EndpointStatus"])


class Endpoints:
    """The endpoint APIs of ``SageMakerEmulator`` (which owns the models and the S3 client)."""

    def __init__(self, emulator: SageMakerEmulator, cloudwatch: CloudWatchLike | None = None) -> None:
        self.emulator = emulator
        self.cloudwatch: CloudWatchLike = cloudwatch or NoCloudWatch()
        self.sleep: Callable[[float], None] = time.sleep
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._configs: dict[str, dict[str, Any]] = {}
        self._config_tags: dict[str, list[dict[str, str]]] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._fleet_faults: list[FleetFault] = []

    def _arn(self, kind: str, name: str) -> str:
        return self.emulator._arn(kind, name)

    # ---- endpoint configs -----------------------------------------------------------------------

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request["EndpointConfigName"])
        arn = self._arn("endpoint-config", name)
        variants = copy.deepcopy(request["ProductionVariants"])
        if len(variants) != 1:
            raise validation_error("The emulator serves one production variant per endpoint configuration")
        variant = variants[0]
        self.emulator.describe_model(str(variant.get("ModelName") or ""))  # "Could not find model"
        serverless = variant.get("ServerlessConfig")
        if serverless is None and not (variant.get("InstanceType") and variant.get("InitialInstanceCount")):
            # API_ProductionVariant: InstanceType and InitialInstanceCount unless ServerlessConfig
            raise validation_error(
                f"Either ServerlessConfig or InstanceType and InitialInstanceCount must be specified for"
                f" production variant {variant['VariantName']}."
            )
        if serverless is not None and serverless.get("MemorySizeInMB") not in SERVERLESS_MEMORY_MB:
            # API_ProductionVariantServerlessConfig: "1024 MB, 2048 MB, 3072 MB, 4096 MB, 5120 MB, or 6144 MB"
            raise validation_error(
                f"Value '{serverless.get('MemorySizeInMB')}' at 'memorySizeInMB' failed to satisfy"
                f" constraint: Member must be one of {list(SERVERLESS_MEMORY_MB)}"
            )
        variant.setdefault("InitialVariantWeight", 1.0)
        record = {
            "EndpointConfigName": name,
            "EndpointConfigArn": arn,
            "ProductionVariants": variants,
            "CreationTime": _now(),
            "EnableNetworkIsolation": False,
        }
        with self._lock:
            if name.lower() in self._configs:
                raise validation_error(f'Cannot create already existing endpoint configuration "{arn}".')
            self._configs[name.lower()] = record
            self._config_tags[name.lower()] = copy.deepcopy(request.get("Tags") or [])
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._find_config(name))

    def delete_endpoint_config(self, name: str) -> None:
        with self._lock:
            self._find_config(name)
            del self._configs[name.lower()]
            self._config_tags.pop(name.lower(), None)

    def list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        contains = str(request.get("NameContains") or "")
        with self._lock:
            found = [
                {key: record[key] for key in ("EndpointConfigName", "EndpointConfigArn", "CreationTime")}
                for record in self._configs.values()
                if contains in record["EndpointConfigName"]
            ]
        return _page(found, "EndpointConfigs", request)

    def _find_config(self, name: str) -> dict[str, Any]:
        record = self._configs.get(name.lower())
        if record is None:
            raise validation_error(
                f'Could not find endpoint configuration "{self._arn("endpoint-config", name)}".'
            )
        return record

    # ---- endpoints ------------------------------------------------------------------------------

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request["EndpointName"])
        arn = self._arn("endpoint", name)
        now = _now()
        with self._lock:
            if name.lower() in self._endpoints:
                raise validation_error(f'Cannot create already existing endpoint "{arn}".')
            config = copy.deepcopy(self._find_config(str(request["EndpointConfigName"])))
            endpoint = _Endpoint(
                record={
                    "EndpointName": name,
                    "EndpointArn": arn,
                    "EndpointConfigName": config["EndpointConfigName"],
                    "EndpointStatus": "Creating",
                    "CreationTime": now,
                    "LastModifiedTime": now,
                },
                tags=copy.deepcopy(request.get("Tags") or []),
            )
            self._endpoints[name.lower()] = endpoint
        self._run(endpoint, lambda: self._create(endpoint, config))
        return {"EndpointArn": arn}

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._find(name).record)

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request["EndpointName"])
        with self._lock:
            endpoint = self._find(name)
            if endpoint.status != "InService":
                raise validation_error(
                    f'Cannot update in-progress endpoint "{endpoint.record["EndpointArn"]}".'
                )
            config = copy.deepcopy(self._find_config(str(request["EndpointConfigName"])))
            deployment = copy.deepcopy(request.get("DeploymentConfig") or {})
            old_variant = endpoint.blue.name if endpoint.blue else None
            new_variant = config["ProductionVariants"][0]["VariantName"]
            if deployment and old_variant not in (None, new_variant):
                # deployment-guardrails-exclusions: the new config must keep the variant's name
                raise validation_error(
                    f"The production variant names of endpoint configuration {config['EndpointConfigName']}"
                    f" must match those of the endpoint's current configuration ({old_variant}) for a"
                    " blue/green deployment."
                )
            now = _now()
            endpoint.record.update(
                EndpointStatus="Updating",
                LastModifiedTime=now,
                PendingDeploymentSummary={
                    "EndpointConfigName": config["EndpointConfigName"],
                    "StartTime": now,
                    "ProductionVariants": [
                        {
                            "VariantName": new_variant,
                            "VariantStatus": [{"Status": "Creating", "StartTime": now}],
                        }
                    ],
                },
            )
            endpoint.record.pop("FailureReason", None)
        self._run(endpoint, lambda: self._update(endpoint, config, deployment))
        return {"EndpointArn": endpoint.record["EndpointArn"]}

    def delete_endpoint(self, name: str) -> None:
        with self._lock:
            endpoint = self._find(name)
            endpoint.record["EndpointStatus"] = "Deleting"
            endpoint.deleted = True
            endpoint.stop.set()
            fleets = [fleet for fleet in (endpoint.blue, endpoint.green) if fleet is not None]
            endpoint.blue = endpoint.green = None
            del self._endpoints[name.lower()]
            self._changed.notify_all()
        for fleet in fleets:
            fleet.close()

    def list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        contains = str(request.get("NameContains") or "")
        with self._lock:
            found = [
                {
                    key: endpoint.record[key]
                    for key in (
                        "EndpointName",
                        "EndpointArn",
                        "CreationTime",
                        "LastModifiedTime",
                        "EndpointStatus",
                    )
                }
                for endpoint in self._endpoints.values()
                if contains in endpoint.name
            ]
        return _page(found, "Endpoints", request)

    def list_tags(self, arn: str) -> dict[str, Any] | None:
        """Tags of an endpoint or endpoint config this emulator holds (None: not one of them)."""
        kind, _, name = arn.rpartition(":")[2].partition("/")
        with self._lock:
            if kind == "endpoint-config" and name.lower() in self._config_tags:
                return {"Tags": copy.deepcopy(self._config_tags[name.lower()])}
            if kind == "endpoint" and name.lower() in self._endpoints:
                return {"Tags": copy.deepcopy(self._endpoints[name.lower()].tags)}
        return None

    def wait(self, name: str, timeout: float = 300) -> dict[str, Any]:
        """Block until the endpoint is no longer Creating or Updating; return its Describe dict."""
        with self._lock:
            if not self._changed.wait_for(
                lambda: (
                    name.lower() not in self._endpoints
                    or self._endpoints[name.lower()].status not in {"Creating", "Updating"}
                ),
                timeout=timeout,
            ):
                raise TimeoutError(f"endpoint {name} still changing after {timeout} s")
            return copy.deepcopy(self._find(name).record)

    def fail_next_fleet(self, status: int = 500, message: str = "Internal Server Error") -> None:
        """The next fleet that starts answers every invocation with ``status`` (emulator-only)."""
        with self._lock:
            self._fleet_faults.append(FleetFault(status, message))

    def _find(self, name: str) -> _Endpoint:
        endpoint = self._endpoints.get(name.lower())
        if endpoint is None:
            raise validation_error(f'Could not find endpoint "{self._arn("endpoint", name)}".')
        return endpoint

    # ---- the fleets' lives ----------------------------------------------------------------------

    def _run(self, endpoint: _Endpoint, body: Callable[[], None]) -> None:
        if self.emulator.background:
            threading.Thread(target=body, name=f"sagemaker-endpoint-{endpoint.name}", daemon=True).start()
        else:
            body()

    def _fleet(self, config: dict[str, Any]) -> Fleet:
        model = self.emulator.describe_model(str(config["ProductionVariants"][0]["ModelName"]))
        with self._lock:
            fault = self._fleet_faults.pop(0) if self._fleet_faults else None
        fleet = Fleet(config, model, fault)
        try:
            with self.emulator.as_model_role(model):
                fleet.start(self.emulator.s3)
        except Exception:
            fleet.close()
            raise
        return fleet

    def _create(self, endpoint: _Endpoint, config: dict[str, Any]) -> None:
        try:
            fleet = self._fleet(config)
        except Exception as error:
            self._settle(endpoint, "Failed", reason=_health_failure(config, error))
            return
        with self._lock:
            if endpoint.deleted:
                fleet.close()
                return
            endpoint.blue = fleet
            endpoint.record["ProductionVariants"] = [_variant_summary(fleet)]
        self._settle(endpoint, "InService")

    def _update(self, endpoint: _Endpoint, config: dict[str, Any], deployment: dict[str, Any]) -> None:
        started = time.monotonic()
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        limit = float(policy.get("MaximumExecutionTimeoutInSeconds") or math.inf)
        alarms = [
            a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        ]
        try:
            green = self._fleet(config)
        except Exception as error:
            self._roll_back(endpoint, _health_failure(config, error))
            return
        with self._lock:
            if endpoint.deleted:
                green.close()
                return
            endpoint.green = green
        for share, bake in _traffic_steps(policy, config):
            self._variant_status(endpoint, "ActivatingTraffic")
            with self._lock:
                endpoint.green_share = share
            self._variant_status(endpoint, "Baking")
            failure = self._bake(endpoint, bake, alarms, deadline=started + limit)
            if failure is not None:
                self._roll_back(endpoint, failure)
                return
        with self._lock:
            if endpoint.deleted:
                return
            blue, endpoint.blue, endpoint.green, endpoint.green_share = endpoint.blue, green, None, 0.0
            endpoint.record["EndpointConfigName"] = config["EndpointConfigName"]
            endpoint.record["ProductionVariants"] = [_variant_summary(green)]
            if deployment:
                endpoint.record["LastDeploymentConfig"] = deployment
        if blue is not None:
            blue.close()
        self._settle(endpoint, "InService")

    def _bake(self, endpoint: _Endpoint, seconds: float, alarms: list[str], *, deadline: float) -> str | None:
        """Watch the alarms for ``seconds`` (at least once); the reason to roll back, or None."""
        until = time.monotonic() + seconds
        while True:
            for alarm in alarms:
                if self.cloudwatch.evaluate(alarm) == "ALARM":
                    return (
                        f"Endpoint update rolled back: the auto-rollback alarm {alarm} went into ALARM during"
                        " the baking period."
                    )
            now = time.monotonic()
            if now > deadline:
                return "Endpoint update rolled back: it exceeded MaximumExecutionTimeoutInSeconds."
            if now >= until or endpoint.stop.is_set():
                return None
            self.sleep(min(TICK_SECONDS, until - now))

    def _roll_back(self, endpoint: _Endpoint, reason: str) -> None:
        with self._lock:
            green, endpoint.green, endpoint.green_share = endpoint.green, None, 0.0
        if green is not None:
            green.close()
        self._settle(endpoint, "InService", reason=reason)

    def _variant_status(self, endpoint: _Endpoint, status: str) -> None:
        with self._lock:
            pending = endpoint.record.get("PendingDeploymentSummary")
            if pending:
                pending["ProductionVariants"][0]["VariantStatus"] = [{"Status": status, "StartTime": _now()}]

    def _settle(self, endpoint: _Endpoint, status: str, *, reason: str | None = None) -> None:
        with self._lock:
            if endpoint.deleted:
                return
            endpoint.record.pop("PendingDeploymentSummary", None)
            endpoint.record["EndpointStatus"] = status
            endpoint.record["LastModifiedTime"] = _now()
            if reason is not None:
                endpoint.record["FailureReason"] = reason
            self._changed.notify_all()

    # ---- InvokeEndpoint -------------------------------------------------------------------------

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> InvokeResult:
        with self._lock:
            endpoint = self._endpoints.get(name.lower())
            if endpoint is None or endpoint.status not in SERVING or endpoint.blue is None:
                raise InvokeError(
                    "ValidationError", f"Endpoint {name} of account {self.emulator.account_id} not found."
                )
            fleet = self._route(endpoint)
            limit = SERVERLESS_PAYLOAD_LIMIT if fleet.serverless else PAYLOAD_LIMIT
            concurrency = (fleet.variant.get("ServerlessConfig") or {}).get("MaxConcurrency")
            if concurrency is not None and endpoint.in_flight >= int(concurrency):
                # serverless-endpoints: requests beyond MaxConcurrency are throttled
                raise InvokeError("ThrottlingException", "Rate exceeded", 400)
            endpoint.in_flight += 1
            fleet.acquire()
        try:
            if len(body) > limit:
                raise InvokeError(
                    "ValidationError", f"Request payload size of {len(body)} bytes exceeds {limit} bytes", 400
                )
            started = time.perf_counter()
            answer, model_seconds = fleet.invoke(body, content_type, accept)
            overhead = max(0.0, time.perf_counter() - started - model_seconds)
            self._emit(endpoint, fleet, answer.status, model_seconds, overhead)
        finally:
            fleet.release()
            with self._lock:
                endpoint.in_flight -= 1
        if not answer.ok:
            raise self._model_error(name, fleet, answer)
        return InvokeResult(answer.body, answer.content_type, fleet.name)

    def _route(self, endpoint: _Endpoint) -> Fleet:
        """Green gets ``green_share`` of the invocations, spread evenly (deterministic)."""
        assert endpoint.blue is not None
        endpoint.routed += 1
        share, count = endpoint.green_share, endpoint.routed
        if endpoint.green is not None and math.floor(count * share) > math.floor((count - 1) * share):
            return endpoint.green
        return endpoint.blue

    def _model_error(self, name: str, fleet: Fleet, answer: invocations.ContainerAnswer) -> InvokeError:
        region, account = self.emulator.region, self.emulator.account_id
        kind = "client" if answer.status < 500 else "server"
        text = answer.body.decode(errors="replace")
        group = f"/aws/sagemaker/Endpoints/{name}"
        return InvokeError(
            "ModelError",
            f'Received {kind} error ({answer.status}) from primary with message "{text}". See'
            f" https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
            f" in account {account} for more information.",
            424,
            OriginalStatusCode=answer.status,
            OriginalMessage=text,
            LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
        )

    def _emit(self, endpoint: _Endpoint, fleet: Fleet, status: int, model: float, overhead: float) -> None:
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint.name},
            {"Name": "VariantName", "Value": fleet.name},
        ]
        data: list[dict[str, Any]] = [
            {"MetricName": "Invocations", "Value": 1.0, "Unit": "None"},
            {"MetricName": "Invocation4XXErrors", "Value": float(400 <= status < 500), "Unit": "None"},
            {"MetricName": "Invocation5XXErrors", "Value": float(status >= 500), "Unit": "None"},
            {"MetricName": "ModelLatency", "Value": model * 1e6, "Unit": "Microseconds"},
            {"MetricName": "OverheadLatency", "Value": overhead * 1e6, "Unit": "Microseconds"},
        ]
        if fleet.serverless and not fleet.invoked:
            data.append(
                {"MetricName": "ModelSetupTime", "Value": fleet.setup_seconds * 1e6, "Unit": "Microseconds"}
            )
        fleet.invoked = True
        self.cloudwatch.put_metric_data(NAMESPACE, [{**item, "Dimensions": dimensions} for item in data])

    def close(self) -> None:
        """Stop every fleet (the sandbox's end)."""
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for endpoint in endpoints:
            endpoint.stop.set()
            for fleet in (endpoint.blue, endpoint.green):
                if fleet is not None:
                    fleet.close()


def _health_failure(config: dict[str, Any], error: Exception) -> str:
    variant = config["ProductionVariants"][0]["VariantName"]
    return HEALTH_CHECK_FAILURE.format(variant=variant, detail=f"{type(error).__name__}: {error}")


def _variant_summary(fleet: Fleet) -> dict[str, Any]:
    """API_ProductionVariantSummary of a fleet in service."""
    image = str(fleet.container["Image"])
    summary: dict[str, Any] = {
        "VariantName": fleet.name,
        "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": _now()}],
        "CurrentWeight": float(fleet.variant.get("InitialVariantWeight", 1.0)),
        "DesiredWeight": float(fleet.variant.get("InitialVariantWeight", 1.0)),
    }
    serverless = fleet.variant.get("ServerlessConfig")
    if serverless is not None:
        summary.update(CurrentServerlessConfig=serverless, DesiredServerlessConfig=serverless)
    else:
        count = int(fleet.variant["InitialInstanceCount"])
        summary.update(CurrentInstanceCount=count, DesiredInstanceCount=count)
    return summary


def _traffic_steps(policy: dict[str, Any], config: dict[str, Any]) -> list[tuple[float, float]]:
    """(share of traffic on green, baking seconds after it) per step (API_TrafficRoutingConfig)."""
    routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    final = float(policy.get("TerminationWaitInSeconds") or 0)
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    instances = int(config["ProductionVariants"][0].get("InitialInstanceCount") or 1)

    def share(size: dict[str, Any]) -> float:
        if size.get("Type") == "INSTANCE_COUNT":
            return min(1.0, float(size["Value"]) / instances)
        return min(1.0, float(size["Value"]) / 100)

    if routing["Type"] == "CANARY":
        return [(share(routing["CanarySize"]), wait), (1.0, final)]
    if routing["Type"] == "LINEAR":
        step = share(routing["LinearStepSize"])
        shares = [min(1.0, step * n) for n in range(1, math.ceil(1 / step) + 1)]
        return [(value, wait if value < 1.0 else final) for value in shares]
    return [(1.0, final)]


def _page(items: list[dict[str, Any]], key: str, request: dict[str, Any]) -> dict[str, Any]:
    """List* paging: MaxResults (default 10), NextToken an offset."""
    size = int(request.get("MaxResults") or 10)
    start = int(request.get("NextToken") or 0)
    ordered = sorted(items, key=lambda item: item["CreationTime"], reverse=True)
    page: dict[str, Any] = {key: ordered[start : start + size]}
    if start + size < len(ordered):
        page["NextToken"] = str(start + size)
    return page
