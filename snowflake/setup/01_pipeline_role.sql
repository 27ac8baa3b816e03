-- Snowsage 01: the pipeline role and its service user (key-pair only, no password).
-- The Lambdas (LoadPredictions, RecordRun) connect as this user. The role gets only what they need:
--   * USAGE on the warehouse, database and schema. No CREATE TABLE: creating the TEMPORARY
--     staging table of a load does not require it (docs: sql-reference/sql/create-table,
--     access control requirements);
--   * object grants (stage, predictions file format, ML_RUNS, predictions tables) sit in the files
--     that create those objects, so a CREATE OR REPLACE never leaves an object ungranted. The role
--     reads neither the feature views nor ML_DATASETS: EXPORT_DATASET runs as its owner.
-- Each grant is issued by the role that owns the object, which may always grant privileges on it
-- (docs: sql-reference/sql/grant-privilege). A grant issued without that authority can come back
-- as a status row "Grant not executed: Insufficient privileges." instead of an error, which
-- snowsage_setup/apply.py turns into a failure.
-- Variables: pipeline_role, pipeline_user, admin_role, warehouse, database, schema.

USE ROLE USERADMIN;

CREATE ROLE IF NOT EXISTS &{pipeline_role}
  COMMENT = 'Snowsage pipeline: load predictions, record runs';
-- The admin role can act as the pipeline role (to test its grants, to run loads by hand).
GRANT ROLE &{pipeline_role} TO ROLE &{admin_role};

-- TYPE = SERVICE: the user cannot have a password or sign in through the UI; set its public key
-- with ALTER USER … SET RSA_PUBLIC_KEY (docs/snowflake.md, "Key-pair user").
CREATE USER IF NOT EXISTS &{pipeline_user}
  TYPE = SERVICE
  DEFAULT_ROLE = &{pipeline_role}
  DEFAULT_WAREHOUSE = &{warehouse}
  DEFAULT_NAMESPACE = '&{database}.&{schema}'
  COMMENT = 'Snowsage pipeline (Lambda) service user, key-pair authentication';

-- USERADMIN owns the role (created above).
GRANT ROLE &{pipeline_role} TO USER &{pipeline_user};

-- SYSADMIN owns the warehouse and the database (00_account.sql).
USE ROLE SYSADMIN;

GRANT USAGE ON WAREHOUSE &{warehouse} TO ROLE &{pipeline_role};
GRANT USAGE ON DATABASE &{database} TO ROLE &{pipeline_role};

-- The admin role owns the schema (00_account.sql).
USE ROLE &{admin_role};

GRANT USAGE ON SCHEMA &{database}.&{schema} TO ROLE &{pipeline_role};
