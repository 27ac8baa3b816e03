-- Snowsage 20: the dataset registry, the run log, the merchant_risk predictions table and its
-- registry row. Column lists are the contract (docs/contracts.md, "Snowflake objects").
-- Variables: admin_role, pipeline_role, warehouse, database, schema.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

-- One row per dataset: which views EXPORT_DATASET unloads and where predictions land.
-- Names of views, columns and tables are unqualified identifiers in this schema.
CREATE TABLE IF NOT EXISTS ML_DATASETS (
  NAME VARCHAR NOT NULL PRIMARY KEY,      -- the dataset grammar (EXPORT_DATASET name_pattern): S3 keys, job names
  TRAINING_VIEW VARCHAR NOT NULL,         -- id, label, features (the export drops the id)
  SCORING_VIEW VARCHAR NOT NULL,          -- id, features (same order as the training view)
  ID_COLUMN VARCHAR NOT NULL,
  LABEL_COLUMN VARCHAR NOT NULL,
  PREDICTIONS_TABLE VARCHAR NOT NULL,
  ENABLED BOOLEAN NOT NULL,
  CREATED_AT TIMESTAMP_NTZ NOT NULL,
  -- The dataset's model (docs/snowflake.md, "Adding a dataset"); NULL leaves it to the template.
  OBJECTIVE VARCHAR,                      -- binary:logistic (template), reg:squarederror, multi:softprob, ...
  EVALUATION_METRIC VARCHAR,              -- validation:auc (template), validation:rmse, validation:mlogloss, ...
  EVALUATION_THRESHOLD FLOAT,             -- a minimum for a maximised metric, a maximum for a minimised one
  HYPERPARAMETERS VARCHAR,                -- JSON object text, merged over the template's
  TRAINING_SCRIPT VARCHAR,                -- script mode: 'training/<name>/train.py' (NULL: the built-in algorithm)
  TRAINING_INSTANCE_COUNT NUMBER,         -- scale-out: instances reading the export sharded by key (NULL: template)
  TUNING VARCHAR,                         -- JSON object text: a hyperparameter tuning job (NULL: none)
  TRAINING_ENGINE VARCHAR,                -- SAGEMAKER (NULL: the default) or SNOWFLAKE (TRAIN_MODEL in place)
  SCORING_ENGINE VARCHAR                  -- SAGEMAKER (NULL: batch transform) or SNOWFLAKE (ML_PREDICT_<DATASET> in place)
)
COMMENT = 'Snowsage: datasets EXPORT_DATASET can export';

-- A registry created before the model columns gets them (docs: sql-reference/sql/alter-table,
-- ADD COLUMN IF NOT EXISTS); its rows read NULL there, i.e. the template's defaults.
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS OBJECTIVE VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS EVALUATION_METRIC VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS EVALUATION_THRESHOLD FLOAT;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS HYPERPARAMETERS VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS TRAINING_SCRIPT VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS TRAINING_INSTANCE_COUNT NUMBER;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS TUNING VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS TRAINING_ENGINE VARCHAR;
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS SCORING_ENGINE VARCHAR;

-- One row per pipeline run, written by the RecordRun Lambda (MERGE on RUN_ID), or by
-- RecordExecutionOutcome for a run that ended without the failure branch.
CREATE TABLE IF NOT EXISTS ML_RUNS (
  RUN_ID VARCHAR NOT NULL PRIMARY KEY,
  EXECUTION_NAME VARCHAR,
  EXECUTION_ARN VARCHAR,
  DATASET VARCHAR,
  EXPORT_ID VARCHAR,
  MODE VARCHAR,
  STATUS VARCHAR,                         -- SUCCEEDED, FAILED, TIMED_OUT or ABORTED
  FAILED_STATE VARCHAR,
  ERROR VARCHAR,
  CAUSE VARCHAR,
  TRAINING_JOB VARCHAR,
  TRANSFORM_JOB VARCHAR,
  MODEL_PACKAGE_ARN VARCHAR,
  MODEL_VERSION VARCHAR,
  METRIC_NAME VARCHAR,
  METRIC_VALUE FLOAT,
  CHAMPION_METRIC FLOAT,
  PROMOTED BOOLEAN,
  ROWS_SCORED NUMBER(38, 0),
  ROWS_LOADED NUMBER(38, 0),
  STARTED_AT TIMESTAMP_NTZ,
  FINISHED_AT TIMESTAMP_NTZ,
  UPDATED_AT TIMESTAMP_NTZ,
  PUBLISHED_FUNCTION VARCHAR,             -- 'ML_PREDICT_<DATASET> v<version>' when the run published one
  COST_USD FLOAT,                         -- what AWS billed the run (layers/common/snowsage/cost.py), the sum of:
  COST_TRAINING_USD FLOAT,                --   BillableTimeInSeconds x instances x price (each trial's, if tuned)
  COST_TRANSFORM_USD FLOAT,               --   TransformStartTime..TransformEndTime x instances x price
  COST_STEP_FUNCTIONS_USD FLOAT,          --   state transitions x price
  COST_LAMBDA_USD FLOAT,                  --   Lambda GB-seconds and requests x price
  COST_WAREHOUSE_USD FLOAT,               --   WAREHOUSE_SECONDS x credits per hour / 3600 x price per credit
  WAREHOUSE_SECONDS FLOAT,                -- the run's Snowflake statements, elapsed (docs/operations.md)
  TUNING_TRIALS NUMBER(38, 0),            -- the tuning job's trials in COST_TRAINING_USD (NULL: not tuned)
  CHAMPION_METRIC_ON_EXPORT FLOAT,        -- the champion's metric on this export's validation rows (CHAMPION_METRIC: as recorded)
  GATE_REASON VARCHAR                     -- the gate's verdict in words: why the model was or was not promoted
)
COMMENT = 'Snowsage: one row per pipeline run (status, metrics, lineage)';
-- A table created before scoring in SQL existed gets the column, last as here (docs: sql-reference/sql/alter-table).
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS PUBLISHED_FUNCTION VARCHAR;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_TRAINING_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_TRANSFORM_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_STEP_FUNCTIONS_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_LAMBDA_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS COST_WAREHOUSE_USD FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS WAREHOUSE_SECONDS FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS TUNING_TRIALS NUMBER(38, 0);
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS CHAMPION_METRIC_ON_EXPORT FLOAT;
ALTER TABLE ML_RUNS ADD COLUMN IF NOT EXISTS GATE_REASON VARCHAR;
-- A dataset is stale when its last successful run is older than this (ML_STALE_DATASETS).
ALTER TABLE ML_DATASETS ADD COLUMN IF NOT EXISTS STALENESS_HOURS NUMBER(38, 0) DEFAULT 24;

-- Predictions for merchant_risk, loaded by LoadPredictions (one copy per export).
CREATE TABLE IF NOT EXISTS MERCHANT_RISK_PREDICTIONS (
  ID VARCHAR,
  SCORE FLOAT,
  RUN_ID VARCHAR,
  EXPORT_ID VARCHAR,
  MODEL_VERSION VARCHAR,
  SCORED_AT TIMESTAMP_NTZ
)
COMMENT = 'Snowsage: merchant_risk scores (ID = MERCHANT_ID)';

MERGE INTO ML_DATASETS AS T
USING (
  SELECT
    'merchant_risk' AS NAME,
    'MERCHANT_RISK_TRAINING' AS TRAINING_VIEW,
    'MERCHANT_RISK_SCORING' AS SCORING_VIEW,
    'MERCHANT_ID' AS ID_COLUMN,
    'IS_RISKY' AS LABEL_COLUMN,
    'MERCHANT_RISK_PREDICTIONS' AS PREDICTIONS_TABLE
) AS S
ON T.NAME = S.NAME
WHEN MATCHED THEN UPDATE SET
  TRAINING_VIEW = S.TRAINING_VIEW,
  SCORING_VIEW = S.SCORING_VIEW,
  ID_COLUMN = S.ID_COLUMN,
  LABEL_COLUMN = S.LABEL_COLUMN,
  PREDICTIONS_TABLE = S.PREDICTIONS_TABLE
WHEN NOT MATCHED THEN INSERT
  (NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE, ENABLED, CREATED_AT)
VALUES
  (S.NAME, S.TRAINING_VIEW, S.SCORING_VIEW, S.ID_COLUMN, S.LABEL_COLUMN, S.PREDICTIONS_TABLE, TRUE, SYSDATE());

-- ML_DATASETS is read by EXPORT_DATASET only (as its owner): no grant to the pipeline role.
GRANT SELECT, INSERT, UPDATE ON TABLE ML_RUNS TO ROLE &{pipeline_role};
GRANT SELECT, INSERT, DELETE ON TABLE MERCHANT_RISK_PREDICTIONS TO ROLE &{pipeline_role};
