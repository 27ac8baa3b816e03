-- Snowsage 25: scoring in SQL. Every promoted model is published as ML_PREDICT_<DATASET>, a
-- Python function the pipeline role creates (PublishModel; docs/snowflake.md, "Scoring in SQL").
-- Variables: admin_role, pipeline_role, analyst_role, warehouse, database, schema.
--
-- What publishing needs, and nothing more:
--   * ML_MODELS_STAGE, an internal stage: COPY FILES copies each promoted model.tar.gz into it
--     from ML_STAGE (the bucket), one path per dataset and version (WRITE; docs:
--     sql-reference/sql/copy-files). The function's owner reads its IMPORTS from it (READ; docs:
--     developer-guide/upload-dependencies: "The owner of the function … must have the READ
--     privilege to the stage").
--   * CREATE FUNCTION on the schema: the pipeline role owns the functions it creates, and
--     replaces them (CREATE OR REPLACE … COPY GRANTS keeps the analysts' grant).
--   * ML_MODELS: one row per published version, written after the function serves it.
-- The analyst role calls the functions: USAGE on each (a future grant, so every function the
-- pipeline creates in the schema is usable at once) and on the warehouse, database and schema.
-- It reads no table, stage or view of Snowsage through this file: scoring rows means selecting
-- them, with whatever access the analyst's own roles give.

USE ROLE &{admin_role};
USE SCHEMA &{database}.&{schema};

CREATE STAGE IF NOT EXISTS ML_MODELS_STAGE
  COMMENT = 'Snowsage: model.tar.gz of every published model, <dataset>/v<version>/';

-- One row per published model version (PublishModel, MERGE on DATASET and MODEL_VERSION).
CREATE TABLE IF NOT EXISTS ML_MODELS (
  DATASET VARCHAR NOT NULL,
  MODEL_VERSION NUMBER(38, 0) NOT NULL,   -- the model package's version in its group
  MODEL_PACKAGE_ARN VARCHAR NOT NULL,
  ARTIFACT_URI VARCHAR NOT NULL,          -- s3://…/model.tar.gz, the SageMaker training output
  METRIC_NAME VARCHAR,
  METRIC_VALUE FLOAT,
  FUNCTION_NAME VARCHAR NOT NULL,         -- ML_PREDICT_<DATASET>
  IMPORTS VARCHAR NOT NULL,               -- @ML_MODELS_STAGE/<dataset>/v<version>/model.tar.gz
  RUN_ID VARCHAR NOT NULL,
  PUBLISHED_AT TIMESTAMP_NTZ NOT NULL,
  ENDPOINT_NAME VARCHAR,                  -- the real-time endpoint this version was deployed to (SettleEndpoint)
  ENDPOINT_STATUS VARCHAR,                -- IN_SERVICE (one per dataset), RETIRED, ROLLED_BACK, FAILED or DELETED
  ENDPOINT_UPDATED_AT TIMESTAMP_NTZ,
  PRIMARY KEY (DATASET, MODEL_VERSION)
)
COMMENT = 'Snowsage: every model version published as an ML_PREDICT_<DATASET> function';
-- A table created before real-time endpoints gets their columns (docs: sql-reference/sql/alter-table).
ALTER TABLE ML_MODELS ADD COLUMN IF NOT EXISTS ENDPOINT_NAME VARCHAR;
ALTER TABLE ML_MODELS ADD COLUMN IF NOT EXISTS ENDPOINT_STATUS VARCHAR;
ALTER TABLE ML_MODELS ADD COLUMN IF NOT EXISTS ENDPOINT_UPDATED_AT TIMESTAMP_NTZ;

GRANT READ, WRITE ON STAGE ML_MODELS_STAGE TO ROLE &{pipeline_role};
GRANT SELECT, INSERT, UPDATE ON TABLE ML_MODELS TO ROLE &{pipeline_role};
GRANT CREATE FUNCTION ON SCHEMA &{database}.&{schema} TO ROLE &{pipeline_role};

USE ROLE USERADMIN;

CREATE ROLE IF NOT EXISTS &{analyst_role}
  COMMENT = 'Snowsage: calls the ML_PREDICT_<DATASET> functions';
-- The admin role can act as the analyst role (to check what analysts see).
GRANT ROLE &{analyst_role} TO ROLE &{admin_role};

USE ROLE SYSADMIN;

GRANT USAGE ON WAREHOUSE &{warehouse} TO ROLE &{analyst_role};
GRANT USAGE ON DATABASE &{database} TO ROLE &{analyst_role};

USE ROLE &{admin_role};

GRANT USAGE ON SCHEMA &{database}.&{schema} TO ROLE &{analyst_role};
GRANT SELECT ON TABLE ML_MODELS TO ROLE &{analyst_role};

-- Future grants in a schema that is not managed-access need MANAGE GRANTS, which SECURITYADMIN
-- holds (docs: sql-reference/sql/grant-privilege, "Future grants").
USE ROLE SECURITYADMIN;

GRANT USAGE ON FUTURE FUNCTIONS IN SCHEMA &{database}.&{schema} TO ROLE &{analyst_role};
