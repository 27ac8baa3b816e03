-- Snowsage 00: roles, warehouse, database and schema.
-- Run by a user holding USERADMIN, SYSADMIN and ACCOUNTADMIN (the first apply; docs/snowflake.md).
-- Variables (written &{…}, rendered by snowsage_setup/apply.py -D name=value): admin_role, warehouse,
-- database, schema.

USE ROLE USERADMIN;

-- The admin role owns every Snowsage object (schema, views, tables, procedure, task).
CREATE ROLE IF NOT EXISTS &{admin_role}
  COMMENT = 'Snowsage: owns the ML schema, the export procedure and the tasks';
GRANT ROLE &{admin_role} TO ROLE SYSADMIN;

USE ROLE SYSADMIN;

CREATE WAREHOUSE IF NOT EXISTS &{warehouse}
  WAREHOUSE_SIZE = XSMALL
  AUTO_SUSPEND = 60
  AUTO_RESUME = TRUE
  INITIALLY_SUSPENDED = TRUE
  COMMENT = 'Snowsage: exports, prediction loads and run records';
GRANT USAGE, OPERATE ON WAREHOUSE &{warehouse} TO ROLE &{admin_role};

CREATE DATABASE IF NOT EXISTS &{database}
  COMMENT = 'Snowsage: features, registry, predictions';
GRANT USAGE, CREATE SCHEMA ON DATABASE &{database} TO ROLE &{admin_role};

USE ROLE ACCOUNTADMIN;

-- Tasks run as their owner: the owner role needs EXECUTE TASK (an account privilege).
GRANT EXECUTE TASK ON ACCOUNT TO ROLE &{admin_role};

USE ROLE &{admin_role};

CREATE SCHEMA IF NOT EXISTS &{database}.&{schema}
  COMMENT = 'Snowsage: feature views, ML_DATASETS, ML_RUNS, predictions, EXPORT_DATASET';
USE SCHEMA &{database}.&{schema};
