"""Deploy template.yaml into moto the way `sam deploy` deploys it into AWS.

Details: sandbox/README.md, "aws/deploy.py".
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.aws import moto_patches
from sandbox.aws.lambda_runtime import LambdaRuntime
from tooling.template import TEMPLATE_PATH, Template, TemplateError, read

SUBSTITUTION_OUTPUT = "SandboxSubstitution"
SKIPPED_IN_ZIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}

# Every resource type the template may use and the sandbox knows how to stand up. A new type
# fails the sandbox tests until someone decides how the sandbox treats it.
SUPPORTED_RESOURCE_TYPES = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::LayerVersion",
        "AWS::Serverless::StateMachine",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::DynamoDB::Table",
        "AWS::KMS::Key",
        # CreateNotebook=true: moto's CloudFormation creates both (the instance runs nothing here).
        "AWS::SageMaker::NotebookInstanceLifecycleConfig",
        "AWS::SageMaker::NotebookInstance",
    }
)


# Every Task resource the sandbox can run (moto_patches routes SageMaker to the emulator; moto runs
# SNS itself). Lambda tasks are ${<Function>Arn} placeholders of the template's functions; service
# integrations are placeholders whose substitution is one of these, in the stack's partition (a
# hard-coded arn:aws: would fail in aws-cn and aws-us-gov). Anything else makes the deploy fail.
SUPPORTED_TASK_RESOURCES = frozenset(
    {
        "arn:${AWS::Partition}:states:::sagemaker:createTrainingJob.sync",
        "arn:${AWS::Partition}:states:::sagemaker:createHyperParameterTuningJob.sync",
        "arn:${AWS::Partition}:states:::sagemaker:createTransformJob.sync",
        "arn:${AWS::Partition}:states:::sagemaker:createModel",
        "arn:${AWS::Partition}:states:::sns:publish",
    }
)


class SandboxDeployError(RuntimeError):
    """The template uses something the sandbox cannot stand up."""


@dataclass
class DeployedStack:
    stack_name: str
    outputs: dict[str, str]
    resources: dict[str, str]
    functions: dict[str, str]
    state_machines: dict[str, str]
    buckets: dict[str, str] = field(default_factory=dict)

    @property
    def state_machine_arn(self) -> str:
        return next(iter(self.state_machines.values()))


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not SKIPPED_IN_ZIP.intersection(path.parts):
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def check_supported(template: Template) -> None:
    unknown = {
        f"{logical_id} ({resource['Type']})"
        for logical_id, resource in template.resources.items()
        if resource["Type"] not in SUPPORTED_RESOURCE_TYPES
    }
    if unknown:
        raise SandboxDeployError(
            "the sandbox cannot stand up " + ", ".join(sorted(unknown)) + ": teach sandbox/aws/deploy.py how"
        )


def check_tasks(definition: dict[str, Any], substitutions: dict[str, Any], functions: set[str]) -> None:
    """Every Task is a Lambda of this template or an integration the sandbox runs."""
    problems = []
    for name, state in definition["States"].items():
        if state["Type"] != "Task":
            continue
        resource = state["Resource"]
        placeholder = re.fullmatch(r"\$\{(\w+)\}", resource)
        if not placeholder:
            problems.append(f"{name}: {resource}")
            continue
        target = substitutions.get(placeholder.group(1))
        target = target if isinstance(target, dict) else {}
        if "Fn::Sub" in target:
            if target["Fn::Sub"] not in SUPPORTED_TASK_RESOURCES:
                problems.append(f"{name}: {resource} = {target['Fn::Sub']}")
        elif target.get("Fn::GetAtt", [None])[0] not in functions:
            problems.append(f"{name}: {resource} is not a function of this template")
    if problems:
        raise SandboxDeployError("the sandbox cannot run these tasks: " + "; ".join(problems))


def check_state_machines(template: Template) -> None:
    for machine in template.state_machines.values():
        check_tasks(machine.definition(), machine.substitutions, set(template.functions))


def _expose_substitutions(cfn: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Add an output per substitution (and the machine's name and role) so CloudFormation resolves them."""
    exposed: dict[str, dict[str, str]] = {}
    outputs = cfn.setdefault("Outputs", {})
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        properties = resource["Properties"]
        wanted = dict(properties.get("DefinitionSubstitutions", {}))
        wanted["__name__"] = properties.get("StateMachineName", logical_id)
        wanted["__role__"] = properties["RoleArn"]
        names: dict[str, str] = {}
        for index, (key, value) in enumerate(sorted(wanted.items())):
            output = f"{SUBSTITUTION_OUTPUT}{logical_id}{index}"
            outputs[output] = {"Value": value}
            names[key] = output
        exposed[logical_id] = names
    return exposed


def _definition_text(cfn_resource: dict[str, Any]) -> str:
    properties = cfn_resource["Properties"]
    if "Definition" in properties:
        return json.dumps(properties["Definition"])
    definition = properties["DefinitionString"]
    if isinstance(definition, str):
        return definition
    if isinstance(definition, dict) and "Fn::Join" in definition:
        separator, parts = definition["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            return str(separator).join(parts)
    raise SandboxDeployError(f"cannot read the state machine definition {str(definition)[:200]}")


def substitute(definition: str, values: dict[str, str]) -> str:
    """Resolve ``${Name}`` placeholders; an unresolved one is an error, as in CloudFormation."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise SandboxDeployError(
                f"state machine placeholder ${{{name}}} has no DefinitionSubstitutions entry"
            )
        return values[name]

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, definition)


def _create_state_machines(
    cfn: dict[str, Any], exposed: dict[str, dict[str, str]], outputs: dict[str, str], sfn: Any
) -> dict[str, str]:
    arns: dict[str, str] = {}
    for logical_id, names in exposed.items():
        values = {key: outputs[output] for key, output in names.items()}
        definition = substitute(_definition_text(cfn["Resources"][logical_id]), values)
        name, role = values.pop("__name__"), values.pop("__role__")
        existing = [
            m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name
        ]
        if existing:
            sfn.update_state_machine(stateMachineArn=existing[0], definition=definition, roleArn=role)
            arns[logical_id] = existing[0]
        else:
            arns[logical_id] = sfn.create_state_machine(name=name, definition=definition, roleArn=role)[
                "stateMachineArn"
            ]
    return arns


def _enable_bucket_events(cfn: dict[str, Any], resources: dict[str, str], s3: Any) -> dict[str, str]:
    buckets: dict[str, str] = {}
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        buckets[logical_id] = resources[logical_id]
        notification = resource.get("Properties", {}).get("NotificationConfiguration", {})
        if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=resources[logical_id], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
    return buckets


def _put_bucket_policies(cfn: dict[str, Any], resources: dict[str, str], s3: Any) -> None:
    for resource in cfn["Resources"].values():
        if resource["Type"] != "AWS::S3::BucketPolicy":
            continue
        properties = resource["Properties"]
        bucket = properties["Bucket"]
        name = resources[bucket["Ref"]] if isinstance(bucket, dict) and "Ref" in bucket else str(bucket)
        document = _resolved(properties["PolicyDocument"], resources, s3.meta.region_name)
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps(document))


def _attach_managed_policies(cfn: dict[str, Any], resources: dict[str, str], iam: Any) -> None:
    """A role's ManagedPolicyArns, which moto's CloudFormation drops: attached through the IAM API."""
    region = iam.meta.region_name
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role" or logical_id not in resources:
            continue  # not a role, or one whose Condition is false (not created)
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            policy_arn = _resolved(arn, resources, region)
            if ":iam::aws:policy/" in policy_arn:
                # AWS managed policies SAM attaches (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess):
                # moto holds none of them; they grant the logs and traces Lambda and X-Ray write,
                # which the sandbox does not write as the role.
                continue
            iam.attach_role_policy(RoleName=resources[logical_id], PolicyArn=policy_arn)
            moto_patches.record_stack_attachment(policy_arn.split(":")[4], resources[logical_id], policy_arn)


def _create_alarms(
    cfn: dict[str, Any], resources: dict[str, str], cloudwatch: Any, stack_name: str, region: str
) -> None:
    """AWS::CloudWatch::Alarm, which moto's CloudFormation skips: PutMetricAlarm with the same
    properties (named <stack>-<LogicalId>; CloudFormation adds a random suffix)."""
    for logical_id, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = _resolved(resource["Properties"], resources, region)
        name = properties.pop("AlarmName", f"{stack_name}-{logical_id}")
        dimensions = [{"Name": d["Name"], "Value": str(d["Value"])} for d in properties.pop("Dimensions", [])]
        cloudwatch.put_metric_alarm(AlarmName=name, Dimensions=dimensions, **properties)
        resources[logical_id] = name


def _put_queue_policies(cfn: dict[str, Any], resources: dict[str, str], sqs: Any) -> None:
    """AWS::SQS::QueuePolicy, which moto's CloudFormation skips: set through SetQueueAttributes."""
    for resource in cfn["Resources"].values():
        if resource["Type"] != "AWS::SQS::QueuePolicy":
            continue
        properties = resource["Properties"]
        document = json.dumps(_resolved(properties["PolicyDocument"], resources, sqs.meta.region_name))
        for queue in properties["Queues"]:
            url = resources[queue["Ref"]] if isinstance(queue, dict) else str(queue)
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})


def _resolved(value: Any, resources: dict[str, str], region: str) -> Any:  # noqa: PLR0911
    """The intrinsics resource policies and alarms use (Ref, GetAtt, Sub of those), resolved as
    CloudFormation resolves them."""
    if isinstance(value, list):
        return [_resolved(item, resources, region) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return (
            _PSEUDO.get(value["Ref"], region) if value["Ref"].startswith("AWS::") else resources[value["Ref"]]
        )
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute in ("QueueName", "TopicName", "Name"):
            return resources[logical_id].rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if attribute != "Arn":
            raise SandboxDeployError(
                f"a resource policy's GetAtt {logical_id}.{attribute} is not resolved by the sandbox"
            )
        physical = resources[logical_id]
        account = _PSEUDO["AWS::AccountId"]
        if physical.startswith("arn:"):
            return physical
        if physical.startswith(("http://", "https://")):  # a queue: its URL is its physical id
            return f"arn:aws:sqs:{region}:{account}:{physical.rstrip('/').rsplit('/', 1)[-1]}"
        if _TYPES.get(logical_id) == "AWS::Events::Rule":
            return f"arn:aws:events:{region}:{account}:rule/{physical}"
        return f"arn:aws:s3:::{physical}"
    if set(value) == {"Fn::Sub"}:

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if "." in name:
                return str(_resolved({"Fn::GetAtt": name.split(".", 1)}, resources, region))
            return str(_resolved({"Ref": name}, resources, region))

        return re.sub(r"\$\{([A-Za-z0-9_:.]+)\}", replace, value["Fn::Sub"])
    return {key: _resolved(item, resources, region) for key, item in value.items()}


_PSEUDO = {"AWS::AccountId": "123456789012", "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
# The translated template's resource types (set by deploy): an ARN's shape depends on the type.
_TYPES: dict[str, str] = {}
# What Ref answers where it is not the physical id moto lists (a topic's Ref is its ARN).
_REFS: dict[str, str] = {}


def _stringify_environments(functions: dict[str, str], lambda_client: Any) -> None:
    for name in functions.values():
        variables = lambda_client.get_function_configuration(FunctionName=name).get("Environment", {})
        values = variables.get("Variables", {})
        if any(not isinstance(value, str) for value in values.values()):
            lambda_client.update_function_configuration(
                FunctionName=name,
                Environment={"Variables": {key: str(value) for key, value in values.items()}},
            )


def deploy(
    *,
    session: Any,
    endpoint_url: str,
    runtime: LambdaRuntime,
    stack_name: str = "snowsage",
    parameters: dict[str, str] | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> DeployedStack:
    """Create the stack in moto, mend what moto drops, and register the handlers with the runtime."""
    try:
        template = read(template_path)
    except TemplateError as error:
        raise SandboxDeployError(str(error)) from error
    check_supported(template)
    check_state_machines(template)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint_url)

    s3, cloudformation = client("s3"), client("cloudformation")
    artifacts = f"{stack_name}-sandbox-artifacts"
    s3.create_bucket(Bucket=artifacts)

    def upload(logical_id: str, folder: Path) -> str:
        s3.put_object(Bucket=artifacts, Key=f"{logical_id}.zip", Body=_zip_folder(folder))
        return f"s3://{artifacts}/{logical_id}.zip"

    cfn = template.translate(
        parameters, upload, region=session.region_name or "us-east-1", inline_definitions=True
    )
    exposed = _expose_substitutions(cfn)

    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(cfn),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value} for key, value in (parameters or {}).items()
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise SandboxDeployError(
            f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}"
        )
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    resources = {
        item["LogicalResourceId"]: item["PhysicalResourceId"]
        for item in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in item and "PhysicalResourceId" in item  # moto lists unsupported types bare
    }

    functions = {logical_id: resources[logical_id] for logical_id in template.functions}
    _stringify_environments(functions, client("lambda"))
    for logical_id, function in template.functions.items():
        runtime.register(
            functions[logical_id], function.code_dir, function.handler, template.layer_dirs(logical_id)
        )

    state_machines = _create_state_machines(cfn, exposed, outputs, client("stepfunctions"))
    buckets = _enable_bucket_events(cfn, resources, s3)
    _TYPES.clear()
    _TYPES.update({logical_id: resource["Type"] for logical_id, resource in cfn["Resources"].items()})
    _put_bucket_policies(cfn, resources, s3)
    _put_queue_policies(cfn, resources, client("sqs"))
    _attach_managed_policies(cfn, resources, client("iam"))
    _create_alarms(cfn, resources, client("cloudwatch"), stack_name, s3.meta.region_name)
    public_outputs = {key: value for key, value in outputs.items() if not key.startswith(SUBSTITUTION_OUTPUT)}
    return DeployedStack(
        stack_name=stack_name,
        outputs=public_outputs,
        resources=resources,
        functions=functions,
        state_machines=state_machines,
        buckets=buckets,
    )
