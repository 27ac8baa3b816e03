-- Snowsage example of a second dataset, `txn_refund`: will a card transaction be refunded?
-- Adding a dataset is this file's four parts: two views, one predictions table, one ML_DATASETS
-- row, one task (docs/snowflake.md, "Adding a dataset"). A binary model like merchant_risk's, with a
-- threshold of its own: refunds are harder to foresee, and its row asks for an AUC of 0.6, not the
-- template's 0.75. It reuses MERCHANT_TRANSACTIONS and shows
-- a numeric id (TXN_ID) and a label that is not the example's. Apply it after the setup files:
--   python -m snowsage_setup.apply -D bucket=… -D aws_role_arn=… snowflake/examples/txn_refund.sql
-- Variables: admin_role, pipeline_role, warehouse, database, schema, txn_refund_schedule.
--
-- Rows: transactions older than 30 days before the newest one are labelled (their refunds have
-- had time to arrive) and train the model; the last 30 days are scored. Features describe the
-- transaction and its merchant's history, never the label itself (no refund rates: that leaks).

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

CREATE OR REPLACE VIEW TXN_REFUND_FEATURES
  COMMENT = 'Snowsage example: per-transaction features, with the refund outcome and its age'
AS
WITH AS_OF AS (
  SELECT MAX(TXN_TS) AS AS_OF_TS FROM MERCHANT_TRANSACTIONS
),
MERCHANT AS (
  SELECT MERCHANT_ID, COUNT(*) AS MERCHANT_TXN_COUNT, AVG(AMOUNT::FLOAT) AS MERCHANT_AVG_AMOUNT
  FROM MERCHANT_TRANSACTIONS
  GROUP BY MERCHANT_ID
)
SELECT
  T.TXN_ID,
  IFF(T.IS_REFUND, 1, 0) AS IS_REFUND,
  DATEDIFF('day', T.TXN_TS, A.AS_OF_TS) AS AGE_DAYS,
  T.AMOUNT::FLOAT AS AMOUNT,
  HOUR(T.TXN_TS) AS HOUR_OF_DAY,
  IFF(T.CHANNEL = 'ECOM', 1, 0) AS IS_ECOM,
  IFF(T.CHANNEL = 'MOTO', 1, 0) AS IS_MOTO,
  IFF(T.IS_CROSS_BORDER, 1, 0) AS IS_CROSS_BORDER,
  M.MERCHANT_TXN_COUNT,
  ROUND(M.MERCHANT_AVG_AMOUNT, 4) AS MERCHANT_AVG_AMOUNT,
  ROUND(T.AMOUNT::FLOAT / NULLIF(M.MERCHANT_AVG_AMOUNT, 0), 4) AS AMOUNT_VS_MERCHANT_AVG
FROM MERCHANT_TRANSACTIONS AS T
JOIN MERCHANT AS M ON M.MERCHANT_ID = T.MERCHANT_ID
CROSS JOIN AS_OF AS A;

-- Scoring view: id first, then the features in model order.
CREATE OR REPLACE VIEW TXN_REFUND_SCORING
  COMMENT = 'Snowsage example: transactions of the last 30 days, id first, then features'
AS
SELECT
  TXN_ID,
  AMOUNT,
  HOUR_OF_DAY,
  IS_ECOM,
  IS_MOTO,
  IS_CROSS_BORDER,
  MERCHANT_TXN_COUNT,
  MERCHANT_AVG_AMOUNT,
  AMOUNT_VS_MERCHANT_AVG
FROM TXN_REFUND_FEATURES
WHERE AGE_DAYS < 30;

-- Training view: id (for the split; the export drops it), label, then the same features.
CREATE OR REPLACE VIEW TXN_REFUND_TRAINING
  COMMENT = 'Snowsage example: labelled transactions (30 days and older), id, label, features'
AS
SELECT
  TXN_ID,
  IS_REFUND,
  AMOUNT,
  HOUR_OF_DAY,
  IS_ECOM,
  IS_MOTO,
  IS_CROSS_BORDER,
  MERCHANT_TXN_COUNT,
  MERCHANT_AVG_AMOUNT,
  AMOUNT_VS_MERCHANT_AVG
FROM TXN_REFUND_FEATURES
WHERE AGE_DAYS >= 30;

CREATE TABLE IF NOT EXISTS TXN_REFUND_PREDICTIONS (
  ID VARCHAR,
  SCORE FLOAT,
  RUN_ID VARCHAR,
  EXPORT_ID VARCHAR,
  MODEL_VERSION VARCHAR,
  SCORED_AT TIMESTAMP_NTZ
)
COMMENT = 'Snowsage example: txn_refund scores (ID = TXN_ID)';

MERGE INTO ML_DATASETS AS T
USING (
  SELECT
    'txn_refund' AS NAME,
    'TXN_REFUND_TRAINING' AS TRAINING_VIEW,
    'TXN_REFUND_SCORING' AS SCORING_VIEW,
    'TXN_ID' AS ID_COLUMN,
    'IS_REFUND' AS LABEL_COLUMN,
    'TXN_REFUND_PREDICTIONS' AS PREDICTIONS_TABLE,
    0.6::FLOAT AS EVALUATION_THRESHOLD     -- a minimum for validation:auc (the template's metric)
) AS S
ON T.NAME = S.NAME
WHEN MATCHED THEN UPDATE SET
  TRAINING_VIEW = S.TRAINING_VIEW,
  SCORING_VIEW = S.SCORING_VIEW,
  ID_COLUMN = S.ID_COLUMN,
  LABEL_COLUMN = S.LABEL_COLUMN,
  PREDICTIONS_TABLE = S.PREDICTIONS_TABLE,
  EVALUATION_THRESHOLD = S.EVALUATION_THRESHOLD
WHEN NOT MATCHED THEN INSERT
  (NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE, ENABLED, CREATED_AT,
   EVALUATION_THRESHOLD)
VALUES
  (S.NAME, S.TRAINING_VIEW, S.SCORING_VIEW, S.ID_COLUMN, S.LABEL_COLUMN, S.PREDICTIONS_TABLE, TRUE, SYSDATE(),
   S.EVALUATION_THRESHOLD);

GRANT SELECT, INSERT, DELETE ON TABLE TXN_REFUND_PREDICTIONS TO ROLE &{pipeline_role};

CREATE OR ALTER TASK EXPORT_TXN_REFUND
  WAREHOUSE = &{warehouse}
  SCHEDULE = '&{txn_refund_schedule}'
  USER_TASK_TIMEOUT_MS = 3600000
  COMMENT = 'Snowsage example: export txn_refund to the bucket'
AS
  CALL EXPORT_DATASET('txn_refund');

-- Created suspended (CREATE OR ALTER keeps a resumed task resumed on a re-apply); resume it when the
-- pipeline is deployed:
--   ALTER TASK EXPORT_TXN_REFUND RESUME;

-- The BI views read every dataset's predictions through ML_PREDICTIONS (setup 50): rebuilt from
-- ML_DATASETS, so it now holds this table too, whatever was applied before or after.
CALL REFRESH_ML_PREDICTIONS();
