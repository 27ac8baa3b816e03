-- Snowsage 01: the pipeline role and its service user (key-pair only, no password).
-- The Lambdas (LoadPredictions, RecordRun) connect as this user. The role gets only what they need:
--   * USAGE on the warehouse, database and schema;
--   * CREATE TABLE on the schema: LoadPredictions creates a TEMPORARY staging table per load
--     (Snowflake asks for CREATE TABLE even for temporary tables);
--   * object grants (stage, file format, registry, ML_RUNS, predictions, feature views) sit in the
--     files that create those objects, so a CREATE OR REPLACE never leaves an object ungranted.
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

USE ROLE SECURITYADMIN;

GRANT ROLE &{pipeline_role} TO USER &{pipeline_user};

USE ROLE SYSADMIN;

GRANT USAGE ON WAREHOUSE &{warehouse} TO ROLE &{pipeline_role};

USE ROLE &{admin_role};

GRANT USAGE ON DATABASE &{database} TO ROLE &{pipeline_role};
GRANT USAGE, CREATE TABLE ON SCHEMA &{database}.&{schema} TO ROLE &{pipeline_role};
