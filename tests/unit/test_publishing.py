"""PublishModel's SQL: the statements, their order, and what is refused before anything runs."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from snowsage.errors import PublicationRefused
from snowsage.models import PublishModelRequest
from snowsage.snowflake import publishing
from snowsage.snowflake.connection import ConnectionFactory

EVENT = Path(__file__).resolve().parents[2] / "events" / "publish_model" / "promoted.json"


def request(**model: Any) -> PublishModelRequest:
    document = json.loads(EVENT.read_text())
    document["model"].update(model)
    return PublishModelRequest.model_validate(document)


def test_the_three_statements_copy_then_create_then_record() -> None:
    statements = publishing.publish_statements(request(), "ML_STAGE")
    run = "models/merchant_risk/merchant-risk-20261126-hf5245c1bee474ebc/"
    assert statements.copy_artifact == (
        "COPY FILES INTO @ML_MODELS_STAGE/merchant_risk/v1/"
        f" FROM @ML_STAGE/{run}snowsage-merchant-risk-20261126-hf5245c1bee474ebc-train-0/output/"
        " FILES = ('model.tar.gz')"
    )
    create = statements.create_function
    assert create.startswith(
        "CREATE OR REPLACE FUNCTION ML_PREDICT_MERCHANT_RISK(TXN_COUNT FLOAT, AVG_AMOUNT FLOAT,"
    )
    assert "CHARGEBACK_RATE FLOAT)\n  COPY GRANTS\n  RETURNS FLOAT\n  LANGUAGE PYTHON\n" in create
    assert "  PACKAGES = ('xgboost==1.7.3', 'pandas')\n" in create
    assert "  IMPORTS = ('@ML_MODELS_STAGE/merchant_risk/v1/model.tar.gz')\n" in create
    assert "  HANDLER = 'predict'\n" in create
    assert statements.record_model.startswith("MERGE INTO ML_MODELS t USING (SELECT %(dataset)s AS DATASET")


@pytest.mark.parametrize(
    ("objective", "problem", "returns"),
    [
        ("binary:logistic", "binary", "FLOAT"),
        ("reg:squarederror", "regression", "FLOAT"),
        ("multi:softprob", "multiclass", "ARRAY"),
    ],
)
def test_the_function_returns_what_the_objective_predicts(objective: str, problem: str, returns: str) -> None:
    document = json.loads(EVENT.read_text())
    document["plan"]["model"] = {"objective": objective, "problem": problem}
    create = publishing.publish_statements(
        PublishModelRequest.model_validate(document), "ML_STAGE"
    ).create_function
    assert f"  COPY GRANTS\n  RETURNS {returns}\n  LANGUAGE PYTHON\n" in create
    with pytest.raises(PublicationRefused, match="cannot return 'VARIANT'"):
        publishing.create_function_statement("F", ["A"], "@S/m.tar.gz", "c", returns="VARIANT")


def test_the_body_is_the_handler_file_exactly() -> None:
    create = publishing.publish_statements(request(), "ML_STAGE").create_function
    _, _, rest = create.partition("AS $$")
    body, _, tail = rest.rpartition("$$")
    assert body == publishing.handler_source() and tail == ""
    assert "$$" not in publishing.handler_source()


def test_the_handler_is_a_vectorized_predict_over_the_imported_model() -> None:
    tree = ast.parse(publishing.handler_source())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert publishing.HANDLER in functions
    text = publishing.handler_source()
    assert "predict._sf_vectorized_input = pandas.DataFrame" in text
    assert 'sys._xoptions["snowflake_import_directory"]' in text
    assert f'MODEL_ARCHIVE = "{publishing.MODEL_ARCHIVE}"' in text


@pytest.mark.parametrize(
    "artifact",
    [
        "s3://bucket/models/run/job/output/model.tar",  # not the training output's name
        "s3://bucket/model.tar.gz",  # no directory
        "s3://bucket/models/it's/output/model.tar.gz",  # a quote in a stage path
        "s3://bucket/models/../secrets/model.tar.gz",
        "s3://bucket/models/run--x/output/model.tar.gz",  # `--` starts a comment in unquoted SQL
        "https://bucket/models/output/model.tar.gz",
    ],
)
def test_an_artifact_that_is_not_a_training_output_is_refused(artifact: str) -> None:
    with pytest.raises(PublicationRefused):
        publishing.publish_statements(request(model_data_url=artifact), "ML_STAGE")


def test_features_must_be_identifiers_and_there_must_be_some() -> None:
    with pytest.raises(PublicationRefused, match="no features"):
        publishing.create_function_statement("ML_PREDICT_X", [], "@S/x/model.tar.gz", "c")
    with pytest.raises(Exception, match="feature"):
        publishing.create_function_statement("ML_PREDICT_X", ["A; DROP TABLE T"], "@S/x/model.tar.gz", "c")


def test_a_body_holding_the_dollar_quote_is_refused() -> None:
    with pytest.raises(PublicationRefused, match=r"\$\$"):
        publishing.create_function_statement("ML_PREDICT_X", ["A"], "@S/x/model.tar.gz", "c", body="x = '$$'")


class RecordingCursor:
    """Records statements; SHOW USER FUNCTIONS answers with ``functions`` (name, arguments) as Snowflake
    does (sql-reference/sql/show-user-functions: lower-case column names)."""

    def __init__(self, fail_on: str | None, functions: list[tuple[str, str]] | None = None) -> None:
        self.statements: list[str] = []
        self.fail_on = fail_on
        self.functions = functions or []
        self.description: list[tuple[str]] = []
        self._rows: list[tuple[str, ...]] = []

    def execute(self, statement: str, params: Any = None, timeout: int | None = None) -> None:
        self.statements.append(statement)
        if self.fail_on and statement.startswith(self.fail_on):
            raise RuntimeError(f"{self.fail_on} failed")
        if statement.startswith("SHOW USER FUNCTIONS"):
            self.description = [("created_on",), ("name",), ("arguments",)]
            self._rows = [("2026-12-01", name, arguments) for name, arguments in self.functions]

    def fetchall(self) -> list[tuple[str, ...]]:
        return self._rows


class RecordingConnection:
    def __init__(self, fail_on: str | None = None, functions: list[tuple[str, str]] | None = None) -> None:
        self.recorded = RecordingCursor(fail_on, functions)

    def cursor(self) -> RecordingCursor:
        return self.recorded

    def close(self) -> None:
        pass


def test_a_failed_copy_stops_before_the_function_is_touched() -> None:
    connection = RecordingConnection(fail_on="COPY FILES")
    factory = ConnectionFactory(open=lambda tag: connection, statement_budget_seconds=60)
    with pytest.raises(RuntimeError, match="COPY FILES failed"):
        publishing.publish_model(request(), factory, "ML_STAGE")
    assert [s.split()[0:2] for s in connection.recorded.statements] == [["COPY", "FILES"]]


def test_ml_models_is_written_only_after_the_function() -> None:
    connection = RecordingConnection(fail_on="CREATE OR REPLACE FUNCTION")
    factory = ConnectionFactory(open=lambda tag: connection, statement_budget_seconds=60)
    with pytest.raises(RuntimeError):
        publishing.publish_model(request(), factory, "ML_STAGE")
    assert not [s for s in connection.recorded.statements if s.startswith("MERGE")]

    connection = RecordingConnection()
    factory = ConnectionFactory(open=lambda tag: connection, statement_budget_seconds=60)
    published = publishing.publish_model(request(), factory, "ML_STAGE")
    assert [s.split()[0] for s in connection.recorded.statements] == ["COPY", "CREATE", "SHOW", "MERGE"]
    assert (published.function_name, published.model_version, published.imports) == (
        "ML_PREDICT_MERCHANT_RISK",
        1,
        "@ML_MODELS_STAGE/merchant_risk/v1/model.tar.gz",
    )


def test_the_xgboost_pin_follows_the_image_that_trained_the_model() -> None:
    registry = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost"
    assert publishing.packages_for(f"{registry}:1.7-1") == ("xgboost==1.7.3", "pandas")
    assert publishing.packages_for(f"{registry}:1.7-1-cpu-py3") == ("xgboost==1.7.3", "pandas")
    # 3.0.5's UBJSON reads and scores identically under 1.7.3 (tests/snowflake/test_python_functions.py).
    assert publishing.packages_for(f"{registry}:3.0-5") == ("xgboost==1.7.3", "pandas")
    with pytest.raises(PublicationRefused, match=r"image '3\.2-0'.*train with a pinned image"):
        publishing.publish_statements(request(image_uri=f"{registry}:3.2-0"), "ML_STAGE")


def test_after_a_publish_exactly_one_function_of_the_name_is_left() -> None:
    """A model of another feature count made CREATE OR REPLACE add an overload: the old arity kept
    answering with the old model. The publish drops every other overload, after the create and
    before ML_MODELS names the version (LIKE's "_" matches any character: only the exact name)."""
    features = len(request().plan.scoring.features)
    now = "ML_PREDICT_MERCHANT_RISK(" + ", ".join(["FLOAT"] * features) + ") RETURN FLOAT"
    connection = RecordingConnection(
        functions=[
            ("ML_PREDICT_MERCHANT_RISK", "ML_PREDICT_MERCHANT_RISK(FLOAT, FLOAT) RETURN FLOAT"),
            ("ML_PREDICT_MERCHANT_RISK", now),
            ("ML_PREDICTXMERCHANT_RISK", "ML_PREDICTXMERCHANT_RISK(FLOAT) RETURN FLOAT"),
        ]
    )
    factory = ConnectionFactory(open=lambda tag: connection, statement_budget_seconds=60)
    publishing.publish_model(request(), factory, "ML_STAGE")
    statements = connection.recorded.statements
    assert statements[2] == "SHOW USER FUNCTIONS LIKE 'ML_PREDICT_MERCHANT_RISK' IN SCHEMA"
    assert statements[3] == "DROP FUNCTION IF EXISTS ML_PREDICT_MERCHANT_RISK(FLOAT, FLOAT)"
    assert [s.split()[0] for s in statements] == ["COPY", "CREATE", "SHOW", "DROP", "MERGE"]


def test_overload_argument_types_are_read_at_the_top_level() -> None:
    assert publishing.drop_other_overloads(
        "F", ("FLOAT",), [{"name": "F", "arguments": "F(NUMBER(38,0), VARCHAR) RETURN FLOAT"}]
    ) == ["DROP FUNCTION IF EXISTS F(NUMBER(38,0), VARCHAR)"]
    with pytest.raises(PublicationRefused, match="unexpected argument types"):
        publishing.drop_other_overloads(
            "F", ("FLOAT",), [{"name": "F", "arguments": "F(A; DROP) RETURN FLOAT"}]
        )
