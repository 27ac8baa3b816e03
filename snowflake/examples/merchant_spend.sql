-- Snowsage example of a regression dataset, `merchant_spend`: how much will a merchant take in the
-- next 30 days? A dataset of its own model: its ML_DATASETS row sets OBJECTIVE reg:squarederror,
-- EVALUATION_METRIC validation:rmse and EVALUATION_THRESHOLD as a maximum (docs/snowflake.md,
-- "Adding a dataset"). It reuses MERCHANT_TRANSACTIONS. Apply it after the setup files:
--   python snowsage_setup/apply.py -D bucket=… -D aws_role_arn=… snowflake/examples/merchant_spend.sql
-- Variables: admin_role, pipeline_role, warehouse, database, schema, merchant_spend_schedule.
--
-- Rows: training describes each merchant as it was 30 days before the newest transaction, and
-- labels it with what it took in the 30 days after (0 when nothing); scoring describes each merchant
-- now, to predict the next 30 days. The SCORE loaded is the predicted amount.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

-- Per merchant and purpose: the history up to a cutoff (30 days back for training, now for scoring).
CREATE OR REPLACE VIEW MERCHANT_SPEND_HISTORY
  COMMENT = 'Snowsage example: per-merchant history features, as of 30 days ago (training) and now (scoring)'
AS
WITH AS_OF AS (
  SELECT MAX(TXN_TS) AS AS_OF_TS FROM MERCHANT_TRANSACTIONS
),
CUTOFFS AS (
  SELECT 'training' AS PURPOSE, DATEADD('day', -30, AS_OF_TS) AS CUTOFF_TS FROM AS_OF
  UNION ALL
  SELECT 'scoring' AS PURPOSE, DATEADD('second', 1, AS_OF_TS) AS CUTOFF_TS FROM AS_OF
)
SELECT
  C.PURPOSE,
  T.MERCHANT_ID,
  ROUND(COUNT(*) / GREATEST(DATEDIFF('day', MIN(T.TXN_TS), MAX(C.CUTOFF_TS)), 1), 4) AS TXNS_PER_DAY,
  ROUND(AVG(T.AMOUNT::FLOAT), 4) AS AVG_AMOUNT,
  ROUND(SUM(IFF(T.TXN_TS >= DATEADD('day', -30, C.CUTOFF_TS), T.AMOUNT::FLOAT, 0)), 2) AS SPEND_LAST_30_DAYS,
  DATEDIFF('day', MAX(T.TXN_TS), MAX(C.CUTOFF_TS)) AS DAYS_SINCE_LAST_TXN,
  ROUND(AVG(IFF(T.IS_REFUND, 1, 0)::FLOAT), 4) AS REFUND_RATE,
  ROUND(AVG(IFF(T.CHANNEL = 'ECOM', 1, 0)::FLOAT), 4) AS ECOM_SHARE
FROM MERCHANT_TRANSACTIONS AS T
JOIN CUTOFFS AS C ON T.TXN_TS < C.CUTOFF_TS
GROUP BY C.PURPOSE, T.MERCHANT_ID;

-- Scoring view: id first, then the features in model order.
CREATE OR REPLACE VIEW MERCHANT_SPEND_SCORING
  COMMENT = 'Snowsage example: merchants now, id first, then features'
AS
SELECT MERCHANT_ID, TXNS_PER_DAY, AVG_AMOUNT, SPEND_LAST_30_DAYS, DAYS_SINCE_LAST_TXN, REFUND_RATE, ECOM_SHARE
FROM MERCHANT_SPEND_HISTORY
WHERE PURPOSE = 'scoring';

-- Training view: id (for the split; the export drops it), label (the amount taken in the 30 days
-- after the cutoff), then the same features as of the cutoff.
CREATE OR REPLACE VIEW MERCHANT_SPEND_TRAINING
  COMMENT = 'Snowsage example: merchants 30 days ago, id, next-30-day spend, features'
AS
WITH AS_OF AS (
  SELECT MAX(TXN_TS) AS AS_OF_TS FROM MERCHANT_TRANSACTIONS
),
NEXT_30_DAYS AS (
  SELECT T.MERCHANT_ID, SUM(T.AMOUNT::FLOAT) AS SPEND
  FROM MERCHANT_TRANSACTIONS AS T
  CROSS JOIN AS_OF AS A
  WHERE T.TXN_TS >= DATEADD('day', -30, A.AS_OF_TS)
  GROUP BY T.MERCHANT_ID
)
SELECT
  H.MERCHANT_ID,
  ROUND(COALESCE(N.SPEND, 0), 2) AS NEXT_30_DAY_SPEND,
  H.TXNS_PER_DAY,
  H.AVG_AMOUNT,
  H.SPEND_LAST_30_DAYS,
  H.DAYS_SINCE_LAST_TXN,
  H.REFUND_RATE,
  H.ECOM_SHARE
FROM MERCHANT_SPEND_HISTORY AS H
LEFT JOIN NEXT_30_DAYS AS N ON N.MERCHANT_ID = H.MERCHANT_ID
WHERE H.PURPOSE = 'training';

CREATE TABLE IF NOT EXISTS MERCHANT_SPEND_PREDICTIONS (
  ID VARCHAR,
  SCORE FLOAT,          -- the predicted amount for the next 30 days
  RUN_ID VARCHAR,
  EXPORT_ID VARCHAR,
  MODEL_VERSION VARCHAR,
  SCORED_AT TIMESTAMP_NTZ
)
COMMENT = 'Snowsage example: merchant_spend predictions (ID = MERCHANT_ID, SCORE = next-30-day spend)';

MERGE INTO ML_DATASETS AS T
USING (
  SELECT
    'merchant_spend' AS NAME,
    'MERCHANT_SPEND_TRAINING' AS TRAINING_VIEW,
    'MERCHANT_SPEND_SCORING' AS SCORING_VIEW,
    'MERCHANT_ID' AS ID_COLUMN,
    'NEXT_30_DAY_SPEND' AS LABEL_COLUMN,
    'MERCHANT_SPEND_PREDICTIONS' AS PREDICTIONS_TABLE,
    'reg:squarederror' AS OBJECTIVE,
    'validation:rmse' AS EVALUATION_METRIC,
    750.0 AS EVALUATION_THRESHOLD,                 -- a maximum: the rmse (in amount) must not exceed it
    '{"max_depth": "4", "min_child_weight": "2"}' AS HYPERPARAMETERS
) AS S
ON T.NAME = S.NAME
WHEN MATCHED THEN UPDATE SET
  TRAINING_VIEW = S.TRAINING_VIEW,
  SCORING_VIEW = S.SCORING_VIEW,
  ID_COLUMN = S.ID_COLUMN,
  LABEL_COLUMN = S.LABEL_COLUMN,
  PREDICTIONS_TABLE = S.PREDICTIONS_TABLE,
  OBJECTIVE = S.OBJECTIVE,
  EVALUATION_METRIC = S.EVALUATION_METRIC,
  EVALUATION_THRESHOLD = S.EVALUATION_THRESHOLD,
  HYPERPARAMETERS = S.HYPERPARAMETERS
WHEN NOT MATCHED THEN INSERT
  (NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE, ENABLED, CREATED_AT,
   OBJECTIVE, EVALUATION_METRIC, EVALUATION_THRESHOLD, HYPERPARAMETERS)
VALUES
  (S.NAME, S.TRAINING_VIEW, S.SCORING_VIEW, S.ID_COLUMN, S.LABEL_COLUMN, S.PREDICTIONS_TABLE, TRUE, SYSDATE(),
   S.OBJECTIVE, S.EVALUATION_METRIC, S.EVALUATION_THRESHOLD, S.HYPERPARAMETERS);

GRANT SELECT, INSERT, DELETE ON TABLE MERCHANT_SPEND_PREDICTIONS TO ROLE &{pipeline_role};

-- ML_PREDICTIONS (setup 50) rebuilt from ML_DATASETS: it holds this table too (ML_SCORE_DRIFT reads it).
CALL REFRESH_ML_PREDICTIONS();

CREATE OR ALTER TASK EXPORT_MERCHANT_SPEND
  WAREHOUSE = &{warehouse}
  SCHEDULE = '&{merchant_spend_schedule}'
  USER_TASK_TIMEOUT_MS = 3600000
  COMMENT = 'Snowsage example: export merchant_spend to the bucket'
AS
  CALL EXPORT_DATASET('merchant_spend');

-- Created suspended (CREATE OR ALTER keeps a resumed task resumed on a re-apply); resume it when the
-- pipeline is deployed:
--   ALTER TASK EXPORT_MERCHANT_SPEND RESUME;
