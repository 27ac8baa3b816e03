"""The champion's metric on this export's validation rows: ``ML_PREDICT_<DATASET>`` in one SELECT.

The function must serve the registry's champion: ML_MODELS names the version it serves (the row
PublishModel writes last, once the function is in place). Where it serves another version, or
none, the champion cannot be judged on these rows here and the gate says why.
"""

from __future__ import annotations

from snowsage.gate_metrics import ChampionOnExport, ChampionQuestion, champion_metric_statement
from snowsage.snowflake.connection import ConnectionFactory, session
from snowsage.snowflake.publishing import MODELS_TABLE, function_name

# B608: constant table names; every value is a bind.
SERVED_MODEL = (
    f"SELECT MODEL_PACKAGE_ARN, MODEL_VERSION FROM {MODELS_TABLE}"  # noqa: S608  # nosec B608
    " WHERE DATASET = %(dataset)s ORDER BY PUBLISHED_AT DESC LIMIT 1"
)
DATASET_ROW = "SELECT TRAINING_VIEW, ID_COLUMN, LABEL_COLUMN FROM ML_DATASETS WHERE NAME = %(dataset)s"


class SnowflakeChampionScorer:
    def __init__(self, factory: ConnectionFactory) -> None:
        self._factory = factory

    def measure(self, question: ChampionQuestion) -> ChampionOnExport:
        function = function_name(question.dataset)
        with session(self._factory, query_tag=question.run_id) as snowflake:
            served = snowflake.execute(SERVED_MODEL, {"dataset": question.dataset}).fetchone()
            if served is None or served[0] != question.champion_arn:
                serving = f"v{served[1]}" if served else "no model"
                return ChampionOnExport(
                    None,
                    note=f"{function} serves {serving}, not champion v{question.champion_version}",
                    warehouse_seconds=snowflake.warehouse_seconds(),
                )
            row = snowflake.execute(DATASET_ROW, {"dataset": question.dataset}).fetchone()
            if row is None:
                return ChampionOnExport(
                    None,
                    note=f"ML_DATASETS has no row {question.dataset!r}",
                    warehouse_seconds=snowflake.warehouse_seconds(),
                )
            view, id_column, label_column = row
            statement = champion_metric_statement(
                question.definition,
                function=function,
                features=question.features,
                view=view,
                id_column=id_column,
                label_column=label_column,
            )
            rows, value = snowflake.execute(statement).fetchone()
            seconds = snowflake.warehouse_seconds()
        if value is None:
            return ChampionOnExport(
                None,
                rows=int(rows),
                note=f"the metric is undefined on these {int(rows)} rows",
                warehouse_seconds=seconds,
            )
        return ChampionOnExport(float(value), rows=int(rows), warehouse_seconds=seconds)
