"""The request validator itself (sandbox/aws/aws_validation.py), over botocore's shapes, without a server."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.model import ServiceModel

from sandbox.aws import aws_validation
from sandbox.aws.aws_validation import AwsRequestRefused, check_request, check_shape, java_pattern

# A small model in botocore's format: every kind of constraint, nested in lists and maps.
_MODEL = {
    "metadata": {"protocol": "json", "apiVersion": "2024-01-01", "serviceId": "Toy", "endpointPrefix": "toy"},
    "operations": {
        "Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "PutInput"}}
    },
    "shapes": {
        "PutInput": {
            "type": "structure",
            "required": ["Name", "Items"],
            "members": {
                "Name": {"shape": "Name"},
                "Kind": {"shape": "Kind"},
                "Count": {"shape": "Count"},
                "Ratio": {"shape": "Ratio"},
                "Items": {"shape": "Items"},
                "Labels": {"shape": "Labels"},
                "Secret": {"shape": "Secret"},
                "Payload": {"shape": "Payload"},
                "Renamed": {"shape": "Name", "locationName": "renamedOnTheWire"},
            },
        },
        "Name": {"type": "string", "min": 1, "max": 8, "pattern": "[a-z]+(-[a-z]+)*"},
        "Kind": {"type": "string", "enum": ["Small", "Large"]},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Items": {"type": "list", "member": {"shape": "Item"}, "min": 1, "max": 2},
        "Item": {"type": "structure", "required": ["Key"], "members": {"Key": {"shape": "Name"}}},
        "Labels": {"type": "map", "key": {"shape": "LabelKey"}, "value": {"shape": "LabelValue"}, "max": 2},
        "LabelKey": {"type": "string", "max": 4, "pattern": "[a-z]*"},
        "LabelValue": {"type": "string", "pattern": "^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$"},
        "Secret": {"type": "string", "max": 3, "sensitive": True},
        "Payload": {"type": "blob", "max": 4},
    },
}
TOY = ServiceModel(_MODEL, service_name="toy")
PUT = TOY.operation_model("Put").input_shape
VALID: dict[str, Any] = {"Name": "ok-name", "Items": [{"Key": "a"}]}


FAILED = "failed to satisfy constraint: Member must"


def messages(value: dict[str, Any], *, wire: bool = False) -> list[str]:
    return [v.describe() for v in check_shape(PUT, value, wire=wire)]


def test_a_valid_request_has_no_violation() -> None:
    full = {
        **VALID,
        "Kind": "Large",
        "Count": 10,
        "Ratio": 0.5,
        "Labels": {"env": "ünïcode 1.0 a=b"},
        "Secret": "abc",
        "Payload": b"1234",
    }
    assert check_shape(PUT, full) == []


def test_pattern_is_matched_on_the_whole_value() -> None:
    # "bad_name" starts with a match of [a-z]+: AWS (Java's matches()) still refuses it.
    assert messages({**VALID, "Name": "bad_name"}) == [
        "Value 'bad_name' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]+(-[a-z]+)*"
    ]


def test_string_length_min_and_max() -> None:
    assert messages({**VALID, "Name": ""}) == [
        "Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1",
        "Value '' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]+(-[a-z]+)*",
    ]
    assert messages({**VALID, "Name": "abcdefghi"}) == [
        f"Value 'abcdefghi' at 'name' {FAILED} have length less than or equal to 8"
    ]


def test_length_counts_utf16_units_as_java_does() -> None:
    shape = TOY.shape_for("Secret")
    assert check_shape(shape, "ab\U0001f600") != []  # 2 + a surrogate pair = 4 > 3
    assert check_shape(shape, "abc") == []


def test_enum() -> None:
    assert messages({**VALID, "Kind": "Medium"}) == [
        f"Value 'Medium' at 'kind' {FAILED} satisfy enum value set: [Small, Large]"
    ]


def test_numeric_ranges() -> None:
    assert messages({**VALID, "Count": 0, "Ratio": 1.5}) == [
        f"Value '0' at 'count' {FAILED} have value greater than or equal to 1",
        f"Value '1.5' at 'ratio' {FAILED} have value less than or equal to 1",
    ]


def test_required_members_at_top_level_and_nested_in_a_list() -> None:
    assert messages({"Items": [{"Key": "a"}, {}]}) == [
        "Value null at 'name' failed to satisfy constraint: Member must not be null",
        "Value null at 'items.2.member.key' failed to satisfy constraint: Member must not be null",
    ]


def test_list_length_and_list_members() -> None:
    assert messages({**VALID, "Items": []}) == [
        f"Value '[]' at 'items' {FAILED} have length greater than or equal to 1"
    ]
    found = messages({**VALID, "Items": [{"Key": "a"}, {"Key": "B"}, {"Key": "c"}]})
    assert found[0].endswith(
        "at 'items' failed to satisfy constraint: Member must have length less than or equal to 2"
    )
    assert found[1].startswith(
        "Value 'B' at 'items.2.member.key' failed to satisfy constraint: Member must satisfy"
    )


def test_map_values_keys_and_size() -> None:
    found = messages({**VALID, "Labels": {"gate": "auc 0.91; better (champion)", "TooLong": "x", "c": "y"}})
    assert found == [
        'Value \'{"gate": "auc 0.91; better (champion)", "TooLong": "x", "c": "y"}\' at \'labels\' '
        "failed to satisfy constraint: Member must have length less than or equal to 2",
        "Value 'auc 0.91; better (champion)' at 'labels.gate' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)$",
        "Value 'TooLong' at 'labels' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 4, "
        "Member must satisfy regular expression pattern: [a-z]*]",
    ]


def test_a_sensitive_value_is_not_echoed() -> None:
    assert messages({**VALID, "Secret": "hunter2"}) == [
        "Value at 'secret' failed to satisfy constraint: Member must have length less than or equal to 3"
    ]


def test_blob_length_raw_and_base64_on_the_wire() -> None:
    assert messages({**VALID, "Payload": b"12345"})[0].endswith(
        "Member must have length less than or equal to 4"
    )
    assert messages({**VALID, "Payload": base64.b64encode(b"12345").decode()}, wire=True) != []
    assert messages({**VALID, "Payload": base64.b64encode(b"1234").decode()}, wire=True) == []


def test_types_are_checked_on_the_wire() -> None:
    violations = check_shape(PUT, {**VALID, "Count": "3", "Items": {"Key": "a"}}, wire=True)
    assert [(v.path, v.is_type_error) for v in violations] == [("count", True), ("items", True)]
    assert violations[0].describe() == "Value at 'count' must be an integer"
    assert check_shape(PUT, {**VALID, "Count": True}, wire=True)[0].is_type_error  # a bool is no integer


def test_wire_members_are_read_under_their_serialized_names() -> None:
    assert messages({**VALID, "renamedOnTheWire": "Bad!"}, wire=True) == [
        "Value 'Bad!' at 'renamed' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]+(-[a-z]+)*"
    ]
    assert messages({**VALID, "Renamed": "Bad!"}, wire=True) == []  # not the wire name: ignored, as AWS does


def test_java_patterns_compile_with_unicode_classes_surrogates_and_hex_escapes() -> None:
    letters = java_pattern(r"[\p{L}\p{N}]+")
    assert letters is not None and letters.fullmatch("Zürich2") and not letters.fullmatch("a;b")
    astral = java_pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF]*")
    assert astral is not None and astral.fullmatch("a \U0001f600") and not astral.fullmatch("\x01")
    backtick = java_pattern(r"[a\x{60}]+")
    assert backtick is not None and backtick.fullmatch("a`a")


# --------------------------------------------------------------------------------------------
# Real models: the requests the issue names
# --------------------------------------------------------------------------------------------


def refused(service: str, operation: str, params: dict[str, Any], *, wire: bool = True) -> AwsRequestRefused:
    found = check_request(service, operation, params, wire=wire)
    assert found is not None, f"{service} {operation} {params} was accepted"
    return found


def test_sagemaker_metadata_value_with_a_semicolon_is_a_validation_exception() -> None:
    found = refused(
        "sagemaker",
        "CreateModelPackage",
        {"ModelPackageGroupName": "g", "CustomerMetadataProperties": {"gate": "auc 0.91; better (x)"}},
    )
    assert found.code == "ValidationException"
    assert found.message.startswith(
        "1 validation error detected: Value 'auc 0.91; better (x)' at 'customerMetadataProperties.gate' "
        "failed to satisfy constraint: Member must satisfy regular expression pattern: "
    )
    accepted = {"ModelPackageGroupName": "g", "CustomerMetadataProperties": {"gate": "auc=0.91 better"}}
    assert check_request("sagemaker", "CreateModelPackage", accepted, wire=True) is None


@pytest.mark.parametrize("name", ["bad_name", "ends-", "a" * 64])
def test_sagemaker_model_package_group_names(name: str) -> None:
    assert refused("sagemaker", "CreateModelPackageGroup", {"ModelPackageGroupName": name}).code == (
        "ValidationException"
    )


def test_several_violations_are_counted_in_one_message() -> None:
    found = refused("sagemaker", "CreateModelPackageGroup", {"ModelPackageGroupName": "bad_name" * 10})
    assert found.message.startswith("2 validation errors detected: Value ")
    assert "; Value " in found.message


def test_query_protocol_services_answer_validation_error() -> None:
    found = refused(
        "iam", "CreateRole", {"RoleName": "bad role", "AssumeRolePolicyDocument": "{}"}, wire=False
    )
    assert found.code == "ValidationError"


def test_sns_subject_and_message_rules_from_the_publish_page() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    assert refused(
        "sns", "Publish", {"TopicArn": topic, "Message": "m", "Subject": "x" * 100}, wire=False
    ).code == ("InvalidParameter")
    for subject in ("two\nlines", "", " leading space"):
        assert (
            check_request("sns", "Publish", {"TopicArn": topic, "Message": "m", "Subject": subject})
            is not None
        )
    assert check_request("sns", "Publish", {"TopicArn": topic, "Message": "m", "Subject": "x" * 99}) is None
    assert refused("sns", "Publish", {"TopicArn": topic, "Message": ""}, wire=False).message == (
        "Invalid parameter: Empty message"
    )
    assert check_request("sns", "Publish", {"TopicArn": topic, "Message": "é" * 131_073}) is not None  # bytes


@pytest.mark.parametrize("name", ["a b", "a/b", "a:b", "a;b", "a$b", "a`b", "a[b", "a*b", "a\tb", "a\x85b"])
def test_step_functions_names_with_forbidden_characters_are_invalid_names(name: str) -> None:
    found = refused("stepfunctions", "StartExecution", {"stateMachineArn": "arn:x", "name": name})
    assert (found.code, found.message) == ("InvalidName", f"Invalid Name: '{name}'")


def test_step_functions_name_length_is_the_models() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    assert (
        check_request(
            "stepfunctions", "StartExecution", {"stateMachineArn": arn, "name": "a" * 80}, wire=True
        )
        is None
    )
    found = refused("stepfunctions", "StartExecution", {"stateMachineArn": arn, "name": "a" * 81})
    assert found.code == "ValidationException"
    assert "Member must have length less than or equal to 80" in found.message
    unicode_ok = {"stateMachineArn": arn, "name": "exécution-1_2.3"}  # non-ASCII names are allowed
    assert check_request("stepfunctions", "StartExecution", unicode_ok, wire=True) is None


def test_sns_names_the_member_in_its_invalid_parameter_message() -> None:
    found = refused("sns", "Publish", {"TopicArn": "t"}, wire=False)
    assert (found.code, found.message) == (
        "InvalidParameter",
        "Invalid parameter: Message Reason: Member must not be null",
    )


def test_a_json_type_mismatch_is_a_serialization_exception() -> None:
    found = refused("sagemaker", "CreateModelPackageGroup", {"ModelPackageGroupName": 7})
    assert found.code == "SerializationException"


def test_every_pattern_of_the_services_this_project_uses_compiles() -> None:
    import botocore.session

    session = botocore.session.get_session()
    for service in (
        "sagemaker",
        "sns",
        "stepfunctions",
        "lambda",
        "iam",
        "cloudformation",
        "secretsmanager",
        "events",
        "logs",
        "sts",
    ):
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern is not None:
                assert java_pattern(pattern) is not None, (service, name, pattern)
    assert aws_validation.uncheckable_patterns() == set()
