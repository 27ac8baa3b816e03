"""template.yaml as typed objects: read once, with SAM's own rules applied.

Details: tooling/README.md, "template.py".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import boto3
from pydantic import BaseModel, ConfigDict
from samtranslator.parser.parser import Parser
from samtranslator.plugins.globals.globals import Globals
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template
from samtranslator.yaml_helper import yaml_parse

PROJECT_ROOT: Final = Path(__file__).resolve().parents[1]
TEMPLATE_PATH: Final = PROJECT_ROOT / "template.yaml"

FUNCTION: Final = "AWS::Serverless::Function"
LAYER: Final = "AWS::Serverless::LayerVersion"
STATE_MACHINE: Final = "AWS::Serverless::StateMachine"

# Lambda's values when neither the function nor Globals set them (Lambda API_CreateFunction:
# MemorySize "The default value is 128 MB", Timeout "The default is 3 seconds").
DEFAULT_MEMORY_MB: Final = 128
DEFAULT_TIMEOUT_SECONDS: Final = 3


class TemplateError(ValueError):
    """template.yaml says something this model cannot read or resolve."""


class _NoValue:
    """``!Ref AWS::NoValue``: the property or list item is left out."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Parameter(_Frozen):
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...] | None
    allowed_pattern: str | None
    min_value: int | None
    max_value: int | None


class Layer(_Frozen):
    logical_id: str
    content_uri: str
    content_dir: Path
    build_method: str | None


class FunctionEvent(_Frozen):
    name: str
    type: str
    properties: dict[str, Any]


class Function(_Frozen):
    """An AWS::Serverless::Function with the Globals merged in and Lambda's defaults filled."""

    logical_id: str
    code_uri: str
    code_dir: Path
    handler: str
    runtime: str
    architectures: tuple[str, ...]
    memory_mb: int
    timeout_seconds: int
    layers: tuple[str, ...]
    environment: dict[str, Any]
    events: dict[str, FunctionEvent]
    policies: tuple[Any, ...]
    properties: dict[str, Any]

    @property
    def module(self) -> str:
        """The code folder's name (functions/<module>/)."""
        return self.code_dir.name

    @property
    def asynchronous(self) -> bool:
        """Invoked by an event source (EventBridge here), not synchronously by the state machine."""
        return bool(self.events)


class StateMachine(_Frozen):
    logical_id: str
    name: Any
    definition_uri: str
    definition_path: Path
    substitutions: dict[str, Any]
    policies: tuple[Any, ...]

    def definition(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.definition_path.read_text(encoding="utf-8"))
        return document

    def function_placeholders(self) -> dict[str, str]:
        """Substitution name -> the function whose ARN it is (``!GetAtt <Function>.Arn``)."""
        found: dict[str, str] = {}
        for key, value in self.substitutions.items():
            target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
            if isinstance(target, list) and len(target) == 2 and target[1] == "Arn":
                found[key] = str(target[0])
        return found


def _local_dir(uri: Any, root: Path, logical_id: str, what: str) -> tuple[str, Path]:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise TemplateError(f"{logical_id}: {what} must be a local folder, got {uri!r}")
    folder = (root / uri).resolve()
    if not folder.is_dir():
        raise TemplateError(f"{logical_id}: {what} {uri} is not a folder under {root}")
    return uri, folder


def _ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and set(value) == {"Ref"} else None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


class Template:
    """One template.yaml (or a copy of it): its parameters, layers, functions and state machines."""

    def __init__(self, document: Mapping[str, Any], root: Path, path: Path | None = None) -> None:
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.root = root.resolve()
        self.path = path
        self.resources: dict[str, dict[str, Any]] = dict(self.document.get("Resources", {}))
        self.conditions: dict[str, Any] = dict(self.document.get("Conditions", {}))
        self.parameters = {
            name: Parameter(
                name=name,
                type=str(spec.get("Type", "String")),
                default=None if spec.get("Default") is None else str(spec["Default"]),
                allowed_values=(
                    tuple(str(value) for value in spec["AllowedValues"]) if "AllowedValues" in spec else None
                ),
                allowed_pattern=spec.get("AllowedPattern"),
                min_value=_optional_int(spec.get("MinValue")),
                max_value=_optional_int(spec.get("MaxValue")),
            )
            for name, spec in self.document.get("Parameters", {}).items()
        }
        self.layers = {
            logical_id: self._layer(logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource["Type"] == LAYER
        }
        globals_ = Globals(self.document)
        self.functions = {
            logical_id: self._function(logical_id, resource, globals_)
            for logical_id, resource in sorted(self.resources.items())
            if resource["Type"] == FUNCTION
        }
        self.state_machines = {
            logical_id: self._state_machine(logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource["Type"] == STATE_MACHINE
        }

    # --- reading ---------------------------------------------------------------------------------

    def _layer(self, logical_id: str, resource: dict[str, Any]) -> Layer:
        content_uri = resource["Properties"].get("ContentUri")
        uri, folder = _local_dir(content_uri, self.root, logical_id, "ContentUri")
        return Layer(
            logical_id=logical_id,
            content_uri=uri,
            content_dir=folder,
            build_method=resource.get("Metadata", {}).get("BuildMethod"),
        )

    def _function(self, logical_id: str, resource: dict[str, Any], globals_: Globals) -> Function:
        properties: dict[str, Any] = globals_.merge(
            FUNCTION,
            copy.deepcopy(resource.get("Properties", {})),
            logical_id,
            resource.get("IgnoreGlobals"),
        )
        uri, folder = _local_dir(properties.get("CodeUri"), self.root, logical_id, "CodeUri")
        layers = []
        for layer in properties.get("Layers", []):
            name = _ref(layer)
            if name not in self.layers:
                raise TemplateError(f"{logical_id}: layer {layer!r} is not a layer of this template")
            layers.append(name)
        handler = properties.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like 'module.function', got {handler!r}")
        policies = properties.get("Policies", [])
        return Function(
            logical_id=logical_id,
            code_uri=uri,
            code_dir=folder,
            handler=handler,
            runtime=str(properties.get("Runtime", "")),
            # A parameter (Architecture) takes its Default here: the model is the template as deployed.
            architectures=tuple(self.resolve(properties.get("Architectures", ["x86_64"]), self._defaults())),
            memory_mb=int(properties.get("MemorySize", DEFAULT_MEMORY_MB)),
            timeout_seconds=int(properties.get("Timeout", DEFAULT_TIMEOUT_SECONDS)),
            layers=tuple(layers),
            environment=dict(properties.get("Environment", {}).get("Variables", {})),
            events={
                name: FunctionEvent(name=name, type=event["Type"], properties=event.get("Properties", {}))
                for name, event in properties.get("Events", {}).items()
            },
            policies=tuple(policies if isinstance(policies, list) else [policies]),
            properties=properties,
        )

    def _defaults(self) -> dict[str, str]:
        return {name: p.default for name, p in self.parameters.items() if p.default is not None}

    def _state_machine(self, logical_id: str, resource: dict[str, Any]) -> StateMachine:
        properties = resource["Properties"]
        uri = properties.get("DefinitionUri")
        if not isinstance(uri, str) or not (self.root / uri).is_file():
            raise TemplateError(f"{logical_id}: DefinitionUri must be a local file, got {uri!r}")
        policies = properties.get("Policies", [])
        return StateMachine(
            logical_id=logical_id,
            name=properties.get("Name", logical_id),
            definition_uri=uri,
            definition_path=(self.root / uri).resolve(),
            substitutions=dict(properties.get("DefinitionSubstitutions", {})),
            policies=tuple(policies if isinstance(policies, list) else [policies]),
        )

    def layer_dirs(self, logical_id: str) -> list[Path]:
        """The function's layer folders, in the order Lambda stacks them (Globals' first)."""
        return [self.layers[layer].content_dir for layer in self.functions[logical_id].layers]

    def resources_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: resource for name, resource in self.resources.items() if resource["Type"] == kind}

    @property
    def state_machine(self) -> StateMachine:
        """The pipeline's state machine (the template has exactly one)."""
        (machine,) = self.state_machines.values()
        return machine

    def task_functions(self) -> set[str]:
        """The functions the state machines invoke (their ARNs are definition substitutions)."""
        return {
            function
            for machine in self.state_machines.values()
            for function in machine.function_placeholders().values()
            if function in self.functions
        }

    # --- values for given parameters ----------------------------------------------------------------

    def parameter_values(self, given: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every parameter's value: the given one, else its Default; one without either is an error."""
        given = dict(given or {})
        unknown = set(given) - set(self.parameters)
        if unknown:
            raise TemplateError(f"no such parameters: {sorted(unknown)}")
        values = {name: given.get(name, parameter.default) for name, parameter in self.parameters.items()}
        missing = sorted(name for name, value in values.items() if value is None)
        if missing:
            raise TemplateError(f"these parameters have no Default and need a value: {missing}")
        return {name: str(value) for name, value in values.items()}

    def condition(self, name: str, parameters: Mapping[str, str]) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"no condition {name}")
        return self._condition(self.conditions[name], parameters)

    def _condition(self, value: Any, parameters: Mapping[str, str]) -> bool:
        """Fn::Equals / Not / And / Or and Condition, as CloudFormation evaluates them."""
        if isinstance(value, dict) and len(value) == 1:
            ((function, arguments),) = value.items()
            if function == "Condition":
                return self.condition(str(arguments), parameters)
            if function == "Fn::Equals":
                left, right = (self.resolve(item, parameters) for item in arguments)
                return bool(left == right)
            if function == "Fn::Not":
                return not self._condition(arguments[0], parameters)
            if function == "Fn::And":
                return all(self._condition(item, parameters) for item in arguments)
            if function == "Fn::Or":
                return any(self._condition(item, parameters) for item in arguments)
        raise TemplateError(f"cannot evaluate the condition {value!r}")

    def resolve(
        self,
        value: Any,
        parameters: Mapping[str, str],
        references: Mapping[str, str] | None = None,
    ) -> Any:
        """A template value with parameter values (and ``references`` for Refs to resources and
        pseudo parameters): Ref, Fn::If and AWS::NoValue resolved, lists and maps walked.
        Anything else (Fn::GetAtt, Fn::Sub, ...) is an error naming the value."""
        references = references or {}
        if isinstance(value, list):
            items = [self.resolve(item, parameters, references) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if (name := _ref(value)) is not None:
            return _ref_value(name, parameters, references)
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            chosen = when_true if self.condition(condition, parameters) else when_false
            return self.resolve(chosen, parameters, references)
        if any(key.startswith("Fn::") for key in value):
            raise TemplateError(f"cannot resolve {value!r} without CloudFormation")
        resolved = {key: self.resolve(item, parameters, references) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def environment(
        self,
        logical_id: str,
        parameters: Mapping[str, str] | None = None,
        references: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The function's environment as deployed with these parameter values (Lambda holds strings)."""
        values = self.parameter_values(parameters)
        resolved = self.resolve(self.functions[logical_id].environment, values, references)
        return {name: _lambda_string(value) for name, value in resolved.items()}

    # --- SAM's transform ------------------------------------------------------------------------------

    def translate(
        self,
        parameters: Mapping[str, str] | None = None,
        artifact_uri: Callable[[str, Path], str] | None = None,
        *,
        region: str = "us-east-1",
        inline_definitions: bool = False,
    ) -> dict[str, Any]:
        """The CloudFormation template SAM makes of this one (``sam deploy``'s transform).

        ``artifact_uri(logical_id, folder)`` gives the S3 URI a function's or layer's folder is
        packaged to (``sam package``); by default a made-up ``s3://`` URI per resource.
        ``inline_definitions`` puts each state machine's definition into the template (else its
        DefinitionUri becomes a made-up ``s3://`` URI).
        """
        document = copy.deepcopy(self.document)
        uri = artifact_uri or (lambda logical_id, _folder: f"s3://packaged/{logical_id}.zip")
        for logical_id, function in self.functions.items():
            document["Resources"][logical_id]["Properties"]["CodeUri"] = uri(logical_id, function.code_dir)
        for logical_id, layer in self.layers.items():
            resource = document["Resources"][logical_id]
            resource["Properties"]["ContentUri"] = uri(logical_id, layer.content_dir)
            resource.pop("Metadata", None)
        for logical_id, machine in self.state_machines.items():
            properties = document["Resources"][logical_id]["Properties"]
            if inline_definitions:
                properties.pop("DefinitionUri")
                properties["Definition"] = machine.definition()
            else:
                properties["DefinitionUri"] = f"s3://packaged/{logical_id}.asl.json"
        values = dict(parameters or {})
        # What samtranslator's transform() does, with the region given rather than taken from the
        # machine's AWS configuration. No managed policy is named by name (policies use ARNs).
        to_py27_compatible_template(document, values)
        translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
        translated = translator.translate(document, parameter_values=values, get_managed_policy_map=dict)
        return dict(undo_mark_unicode_str_in_template(translated))


def _ref_value(name: str, parameters: Mapping[str, str], references: Mapping[str, str]) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    if name in parameters:
        return parameters[name]
    if name in references:
        return references[name]
    raise TemplateError(f"no value for !Ref {name}")


def _lambda_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        raise TemplateError(f"an environment value must be a scalar, got {value!r}")
    return str(value)


def read(path: Path) -> Template:
    """The template at ``path``; its relative paths (CodeUri, ...) are relative to its folder."""
    try:
        document = yaml_parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a template (no Resources)")
    return Template(document, path.parent, path)


@cache
def project() -> Template:
    """The project's template.yaml, read once per process."""
    return read(TEMPLATE_PATH)


def _unwrap_if(value: Any) -> list[Any]:
    """Both branches of an Fn::If (a conditional policy), leaving out AWS::NoValue; else the value."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return [item for branch in value["Fn::If"][1:] for item in _unwrap_if(branch)]
    return [] if _ref(value) == "AWS::NoValue" else [value]


def _statements(document: Any) -> list[dict[str, Any]]:
    """A policy document's statements; a conditional statement (Fn::If) counts with both branches."""
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    listed = statements if isinstance(statements, list) else [statements]
    return [branch for statement in listed for branch in _unwrap_if(statement)]


_ROLE_PROPERTY = {"AWS::Lambda::Function": "Role", "AWS::StepFunctions::StateMachine": "RoleArn"}


def granted_statements(translated: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every identity-policy statement of a translated template.

    The owner is the function or state machine whose role SAM made (``<Owner>Role``), else the
    role itself. A managed policy of the template counts for every role it is attached to; the
    statements of both branches of a conditional policy are listed.
    """
    resources = translated["Resources"]
    role_owner: dict[str, str] = {}
    for logical_id, resource in resources.items():
        role = resource.get("Properties", {}).get(_ROLE_PROPERTY.get(resource["Type"], ""))
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            role_owner[role["Fn::GetAtt"][0]] = logical_id
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        owner = role_owner.get(logical_id, logical_id)
        properties = resource["Properties"]
        for policy in properties.get("Policies", []):
            for branch in _unwrap_if(policy):
                found += [(owner, statement) for statement in _statements(branch["PolicyDocument"])]
        for arn in properties.get("ManagedPolicyArns", []):
            for branch in _unwrap_if(arn):
                managed = resources.get(_ref(branch) or "", {})
                if managed.get("Type") == "AWS::IAM::ManagedPolicy":
                    document = managed["Properties"]["PolicyDocument"]
                    found += [(owner, statement) for statement in _statements(document)]
    return found
