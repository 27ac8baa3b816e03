-- Snowsage 10: the example dataset `merchant_risk`: transactions, labels, feature views.
-- Variables: admin_role, pipeline_role, warehouse, database, schema.
--
-- Views (all per merchant):
--   MERCHANT_FEATURES        every feature, one row per merchant with at least one transaction
--   MERCHANT_RISK_SCORING    id first, then the model's features in the model's order (the
--                            feature contract: the only place that lists and orders them)
--   MERCHANT_RISK_TRAINING   id, label (0/1), then the scoring view's features in the same order.
--                            The id is there for the stable train/validation split only:
--                            EXPORT_DATASET drops it (SELECT * EXCLUDE (id)), so the exported
--                            training files are label first, then features, no id.
-- Every float is rounded, so Snowflake and the sandbox (DuckDB) produce the same digits, and
-- recency is measured against the newest transaction in the table, so it is deterministic.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

CREATE TABLE IF NOT EXISTS MERCHANT_TRANSACTIONS (
  TXN_ID NUMBER(38, 0) NOT NULL,
  MERCHANT_ID VARCHAR NOT NULL,
  TXN_TS TIMESTAMP_NTZ NOT NULL,
  AMOUNT NUMBER(12, 2) NOT NULL,
  CHANNEL VARCHAR NOT NULL,          -- POS | ECOM | MOTO
  IS_CROSS_BORDER BOOLEAN NOT NULL,  -- card issued in another country than the merchant's
  IS_REFUND BOOLEAN NOT NULL,
  IS_CHARGEBACK BOOLEAN NOT NULL
)
COMMENT = 'Snowsage example: card transactions per merchant (UTC timestamps)';

CREATE TABLE IF NOT EXISTS MERCHANT_RISK_LABELS (
  MERCHANT_ID VARCHAR NOT NULL,
  IS_RISKY BOOLEAN NOT NULL,
  LABELED_AT TIMESTAMP_NTZ NOT NULL
)
COMMENT = 'Snowsage example: risk reviews; the latest review per merchant is its label';

CREATE OR REPLACE VIEW MERCHANT_FEATURES
  COMMENT = 'Snowsage example: per-merchant features'
AS
WITH AS_OF AS (
  SELECT MAX(TXN_TS) AS AS_OF_TS FROM MERCHANT_TRANSACTIONS
)
SELECT
  T.MERCHANT_ID,
  COUNT(*) AS TXN_COUNT,
  ROUND(AVG(T.AMOUNT::FLOAT), 4) AS AVG_AMOUNT,
  ROUND(COALESCE(STDDEV_SAMP(T.AMOUNT::FLOAT), 0), 4) AS STDDEV_AMOUNT,
  MAX(T.AMOUNT)::FLOAT AS MAX_AMOUNT,
  COUNT(DISTINCT TO_DATE(T.TXN_TS)) AS ACTIVE_DAYS,
  DATEDIFF('day', MAX(T.TXN_TS), MAX(A.AS_OF_TS)) AS DAYS_SINCE_LAST_TXN,
  ROUND(AVG(IFF(HOUR(T.TXN_TS) < 6, 1, 0)::FLOAT), 4) AS NIGHT_SHARE,
  ROUND(AVG(IFF(T.CHANNEL = 'ECOM', 1, 0)::FLOAT), 4) AS ECOM_SHARE,
  ROUND(AVG(IFF(T.IS_CROSS_BORDER, 1, 0)::FLOAT), 4) AS CROSS_BORDER_SHARE,
  ROUND(AVG(IFF(T.IS_REFUND, 1, 0)::FLOAT), 4) AS REFUND_RATE,
  ROUND(AVG(IFF(T.IS_CHARGEBACK, 1, 0)::FLOAT), 4) AS CHARGEBACK_RATE
FROM MERCHANT_TRANSACTIONS AS T
CROSS JOIN AS_OF AS A
GROUP BY T.MERCHANT_ID;

CREATE OR REPLACE VIEW MERCHANT_RISK_SCORING
  COMMENT = 'Snowsage example: scoring rows, id first, then the features in model order'
AS
SELECT
  MERCHANT_ID,
  TXN_COUNT,
  AVG_AMOUNT,
  STDDEV_AMOUNT,
  MAX_AMOUNT,
  ACTIVE_DAYS,
  DAYS_SINCE_LAST_TXN,
  NIGHT_SHARE,
  ECOM_SHARE,
  CROSS_BORDER_SHARE,
  REFUND_RATE,
  CHARGEBACK_RATE
FROM MERCHANT_FEATURES;

CREATE OR REPLACE VIEW MERCHANT_RISK_TRAINING
  COMMENT = 'Snowsage example: labelled rows: id (for the split), label, then the scoring features'
AS
WITH LATEST_LABEL AS (
  SELECT MERCHANT_ID, IS_RISKY
  FROM MERCHANT_RISK_LABELS
  QUALIFY ROW_NUMBER() OVER (PARTITION BY MERCHANT_ID ORDER BY LABELED_AT DESC) = 1
)
SELECT
  S.MERCHANT_ID,
  IFF(L.IS_RISKY, 1, 0) AS IS_RISKY,
  S.* EXCLUDE (MERCHANT_ID)
FROM MERCHANT_RISK_SCORING AS S
JOIN LATEST_LABEL AS L ON L.MERCHANT_ID = S.MERCHANT_ID;

-- EXPORT_DATASET (EXECUTE AS OWNER) reads these views; the pipeline role reads only the scoring view,
-- when a run scores in Snowflake (SCORING_ENGINE = 'SNOWFLAKE': INSERT … SELECT ML_PREDICT_… FROM it).
-- A view reads its tables with its owner's privileges: SELECT on the view is all the role needs
-- (docs: user-guide/views-introduction).
GRANT SELECT ON VIEW MERCHANT_RISK_SCORING TO ROLE &{pipeline_role};
