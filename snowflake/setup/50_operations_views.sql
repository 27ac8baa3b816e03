-- Snowsage 50: views for BI over the run log and the predictions (docs/operations.md).
-- Variables: admin_role, pipeline_role, warehouse, database, schema.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

-- Every dataset's predictions, one table per dataset: a dataset's setup file adds its table here
-- (snowflake/examples/txn_refund.sql does).
CREATE OR REPLACE VIEW ML_PREDICTIONS
  COMMENT = 'Snowsage: the predictions of every dataset'
AS
SELECT 'merchant_risk' AS DATASET, ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT
FROM MERCHANT_RISK_PREDICTIONS;

-- One row per run: its duration, cost, metric and whether it changed the champion.
CREATE OR REPLACE VIEW ML_RUN_HISTORY
  COMMENT = 'Snowsage: runs with duration, cost, metric and champion change'
AS
SELECT
  RUN_ID, DATASET, MODE, STATUS, FAILED_STATE, STARTED_AT, FINISHED_AT,
  DATEDIFF('second', STARTED_AT, FINISHED_AT) AS DURATION_SECONDS,
  COST_USD, COST_TRAINING_USD, COST_TRANSFORM_USD, COST_STEP_FUNCTIONS_USD, COST_LAMBDA_USD,
  METRIC_NAME, METRIC_VALUE, CHAMPION_METRIC,
  COALESCE(PROMOTED, FALSE) AS CHAMPION_CHANGED,
  MODEL_VERSION, ROWS_LOADED
FROM ML_RUNS;

-- The evaluation metric per dataset over time (successful training runs), with its change.
CREATE OR REPLACE VIEW ML_MODEL_TREND
  COMMENT = 'Snowsage: the model metric per dataset over time'
AS
SELECT
  DATASET, FINISHED_AT, RUN_ID, METRIC_NAME, METRIC_VALUE, COALESCE(PROMOTED, FALSE) AS PROMOTED,
  METRIC_VALUE - LAG(METRIC_VALUE) OVER (PARTITION BY DATASET, METRIC_NAME ORDER BY FINISHED_AT)
    AS CHANGE_FROM_PREVIOUS
FROM ML_RUNS
WHERE STATUS = 'SUCCEEDED' AND METRIC_VALUE IS NOT NULL;

-- Population stability index of each dataset's latest run's scores against the previous run's:
-- ten fixed bins of width 0.1 over [0, 1] (the scores are binary:logistic probabilities; a score of
-- 1 falls in the last bin), PSI = sum over bins of (latest% - previous%) x ln(latest% / previous%),
-- an empty bin counted as 0.0001 of its run so the logarithm exists. Runs are ordered by when their
-- scores were loaded.
CREATE OR REPLACE VIEW ML_SCORE_DRIFT
  COMMENT = 'Snowsage: PSI of the scores of the latest run against the previous run, per dataset'
AS
WITH RUNS AS (
  SELECT DATASET, RUN_ID, COUNT(*) AS ROWS_SCORED,
    ROW_NUMBER() OVER (PARTITION BY DATASET ORDER BY MAX(SCORED_AT) DESC, RUN_ID DESC) AS RECENCY
  FROM ML_PREDICTIONS
  GROUP BY DATASET, RUN_ID
),
PAIRS AS (
  SELECT L.DATASET, L.RUN_ID AS LATEST_RUN_ID, L.ROWS_SCORED AS LATEST_ROWS,
    P.RUN_ID AS PREVIOUS_RUN_ID, P.ROWS_SCORED AS PREVIOUS_ROWS
  FROM RUNS AS L
  JOIN RUNS AS P ON P.DATASET = L.DATASET AND P.RECENCY = 2
  WHERE L.RECENCY = 1
),
BINS AS (
  SELECT 0 AS BIN UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
),
COUNTS AS (
  SELECT DATASET, RUN_ID, LEAST(GREATEST(FLOOR(SCORE * 10), 0), 9) AS BIN, COUNT(*) AS N
  FROM ML_PREDICTIONS
  GROUP BY DATASET, RUN_ID, LEAST(GREATEST(FLOOR(SCORE * 10), 0), 9)
),
SHARES AS (
  SELECT PAIRS.DATASET, PAIRS.LATEST_RUN_ID, PAIRS.PREVIOUS_RUN_ID, PAIRS.LATEST_ROWS, PAIRS.PREVIOUS_ROWS,
    GREATEST(COALESCE(L.N, 0) / PAIRS.LATEST_ROWS, 0.0001) AS LATEST_SHARE,
    GREATEST(COALESCE(P.N, 0) / PAIRS.PREVIOUS_ROWS, 0.0001) AS PREVIOUS_SHARE
  FROM PAIRS
  CROSS JOIN BINS
  LEFT JOIN COUNTS AS L ON L.DATASET = PAIRS.DATASET AND L.RUN_ID = PAIRS.LATEST_RUN_ID AND L.BIN = BINS.BIN
  LEFT JOIN COUNTS AS P ON P.DATASET = PAIRS.DATASET AND P.RUN_ID = PAIRS.PREVIOUS_RUN_ID AND P.BIN = BINS.BIN
)
SELECT DATASET, LATEST_RUN_ID, PREVIOUS_RUN_ID, LATEST_ROWS, PREVIOUS_ROWS,
  SUM((LATEST_SHARE - PREVIOUS_SHARE) * LN(LATEST_SHARE / PREVIOUS_SHARE)) AS PSI
FROM SHARES
GROUP BY DATASET, LATEST_RUN_ID, PREVIOUS_RUN_ID, LATEST_ROWS, PREVIOUS_ROWS;

-- Enabled datasets whose last successful run is older than their STALENESS_HOURS (or that never
-- had one). SYSDATE() is the current UTC time without zone, like FINISHED_AT (sql-reference/functions/sysdate).
CREATE OR REPLACE VIEW ML_STALE_DATASETS
  COMMENT = 'Snowsage: enabled datasets without a successful run in their interval'
AS
SELECT D.NAME AS DATASET, D.STALENESS_HOURS, MAX(R.FINISHED_AT) AS LAST_SUCCESS_AT
FROM ML_DATASETS AS D
LEFT JOIN ML_RUNS AS R ON R.DATASET = D.NAME AND R.STATUS = 'SUCCEEDED'
WHERE D.ENABLED
GROUP BY D.NAME, D.STALENESS_HOURS
HAVING MAX(R.FINISHED_AT) IS NULL OR MAX(R.FINISHED_AT) < DATEADD('hour', -D.STALENESS_HOURS, SYSDATE());

-- StalenessCheckFunction counts these every hour (the DatasetStaleAlarm's metric).
GRANT SELECT ON VIEW ML_STALE_DATASETS TO ROLE &{pipeline_role};
