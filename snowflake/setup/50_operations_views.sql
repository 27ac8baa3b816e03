-- Snowsage 50: views for BI over the run log and the predictions (docs/operations.md).
-- Variables: admin_role, pipeline_role, warehouse, database, schema.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

-- Every dataset's predictions, one table per dataset, in one view built from ML_DATASETS: this file
-- and each dataset's file (snowflake/examples/*.sql) CALL it after their rows are in, so applying
-- them in any order, any number of times, gives the same view. ONE SOURCE: the sandbox builds the
-- view from the marked SELECT below (sandbox/snowflake/setup_objects.py) with the same rules.
CREATE OR REPLACE PROCEDURE REFRESH_ML_PREDICTIONS()
  RETURNS VARCHAR
  LANGUAGE SQL
  COMMENT = 'Snowsage: (re)create ML_PREDICTIONS as the union of every ML_DATASETS row''s predictions table'
  EXECUTE AS OWNER
AS
$$
DECLARE
  -- snowsage:predictions-select
  part VARCHAR DEFAULT 'SELECT ''{dataset}'' AS DATASET, ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT FROM {table}';
  -- The grammars EXPORT_DATASET checks a row with (snowsage.names).
  ident_pattern VARCHAR DEFAULT '[A-Za-z_][A-Za-z0-9_$]{0,254}';
  name_pattern VARCHAR DEFAULT '[a-z0-9]+(_[a-z0-9]+)*';
  dataset VARCHAR;
  predictions VARCHAR;
  union_sql VARCHAR DEFAULT '';
  invalid_name EXCEPTION (-20011, 'REFRESH_ML_PREDICTIONS: an ML_DATASETS name or PREDICTIONS_TABLE is invalid');
  rows_cursor CURSOR FOR SELECT NAME, PREDICTIONS_TABLE FROM ML_DATASETS ORDER BY NAME;
BEGIN
  FOR row_of IN rows_cursor DO
    dataset := row_of.NAME;
    predictions := row_of.PREDICTIONS_TABLE;
    IF (NOT REGEXP_LIKE(dataset, name_pattern) OR NOT REGEXP_LIKE(predictions, ident_pattern)) THEN
      RAISE invalid_name;
    END IF;
    union_sql := union_sql || IFF(union_sql = '', '', ' UNION ALL ')
      || REPLACE(REPLACE(part, '{dataset}', dataset), '{table}', UPPER(predictions));
  END FOR;
  -- COPY GRANTS keeps who may read the view (docs: sql-reference/sql/create-view).
  EXECUTE IMMEDIATE 'CREATE OR REPLACE VIEW ML_PREDICTIONS COPY GRANTS'
    || ' COMMENT = ''Snowsage: the predictions of every dataset'' AS ' || union_sql;
  RETURN union_sql;
END;
$$;

CALL REFRESH_ML_PREDICTIONS();

-- One row per run: its duration, cost, metric and whether it changed the champion.
CREATE OR REPLACE VIEW ML_RUN_HISTORY
  COMMENT = 'Snowsage: runs with duration, cost, metric and champion change'
AS
SELECT
  RUN_ID, DATASET, MODE, STATUS, FAILED_STATE, STARTED_AT, FINISHED_AT,
  DATEDIFF('second', STARTED_AT, FINISHED_AT) AS DURATION_SECONDS,
  COST_USD, COST_TRAINING_USD, COST_TRANSFORM_USD, COST_STEP_FUNCTIONS_USD, COST_LAMBDA_USD,
  COST_WAREHOUSE_USD, WAREHOUSE_SECONDS, TUNING_TRIALS, COST_NOTE,
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

-- Population stability index of each dataset's latest run's scores against the previous run's
-- (the baseline). Bins from the baseline's own distribution, so any score scale works (a
-- regression's amounts as a classifier's probabilities): ten bins between the baseline's deciles
-- (a score above the k-th decile and not above the next is in bin k, ties fall low; docs:
-- sql-reference/functions/percentile_cont), and an eleventh bin for NULL scores, so every row is
-- in a bin and a change in the NULL rate is drift too. PSI = sum over bins of (latest% - baseline%)
-- x ln(latest% / baseline%), an empty bin counted as 0.0001 of its run so the logarithm exists.
-- Runs are ordered by when their scores were loaded.
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
-- The baseline's deciles (PERCENTILE_CONT takes a constant percentile: one column each).
EDGES AS (
  SELECT PAIRS.DATASET,
    PERCENTILE_CONT(0.1) WITHIN GROUP (ORDER BY B.SCORE) AS E1,
    PERCENTILE_CONT(0.2) WITHIN GROUP (ORDER BY B.SCORE) AS E2,
    PERCENTILE_CONT(0.3) WITHIN GROUP (ORDER BY B.SCORE) AS E3,
    PERCENTILE_CONT(0.4) WITHIN GROUP (ORDER BY B.SCORE) AS E4,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY B.SCORE) AS E5,
    PERCENTILE_CONT(0.6) WITHIN GROUP (ORDER BY B.SCORE) AS E6,
    PERCENTILE_CONT(0.7) WITHIN GROUP (ORDER BY B.SCORE) AS E7,
    PERCENTILE_CONT(0.8) WITHIN GROUP (ORDER BY B.SCORE) AS E8,
    PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY B.SCORE) AS E9
  FROM PAIRS
  JOIN ML_PREDICTIONS AS B ON B.DATASET = PAIRS.DATASET AND B.RUN_ID = PAIRS.PREVIOUS_RUN_ID
  WHERE B.SCORE IS NOT NULL
  GROUP BY PAIRS.DATASET
),
-- Each score of the two runs: how many deciles it is above (0..9), or -1 when NULL.
BINNED AS (
  SELECT S.DATASET, S.RUN_ID,
    IFF(S.SCORE IS NULL, -1,
      IFF(S.SCORE > E.E1, 1, 0) + IFF(S.SCORE > E.E2, 1, 0) + IFF(S.SCORE > E.E3, 1, 0)
      + IFF(S.SCORE > E.E4, 1, 0) + IFF(S.SCORE > E.E5, 1, 0) + IFF(S.SCORE > E.E6, 1, 0)
      + IFF(S.SCORE > E.E7, 1, 0) + IFF(S.SCORE > E.E8, 1, 0) + IFF(S.SCORE > E.E9, 1, 0)) AS BIN
  FROM ML_PREDICTIONS AS S
  JOIN PAIRS ON PAIRS.DATASET = S.DATASET AND S.RUN_ID IN (PAIRS.LATEST_RUN_ID, PAIRS.PREVIOUS_RUN_ID)
  LEFT JOIN EDGES AS E ON E.DATASET = S.DATASET
),
BINS AS (
  SELECT -1 AS BIN UNION ALL SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8
  UNION ALL SELECT 9
),
COUNTS AS (
  SELECT DATASET, RUN_ID, BIN, COUNT(*) AS N
  FROM BINNED
  GROUP BY DATASET, RUN_ID, BIN
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
-- COPY GRANTS: the pipeline role's SELECT (StalenessCheck) survives a re-apply (sql-reference/sql/create-view).
CREATE OR REPLACE VIEW ML_STALE_DATASETS
  COPY GRANTS
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
