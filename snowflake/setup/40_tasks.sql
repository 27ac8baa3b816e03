-- Snowsage 40: one TASK per dataset, on a CRON schedule, calling EXPORT_DATASET.
-- Variables: admin_role, warehouse, database, schema, merchant_risk_schedule
-- (default 'USING CRON 0 2 * * * UTC').
--
-- A task is created SUSPENDED (Snowflake's default for a new task): nothing runs until you resume
-- it. CREATE OR ALTER alters the existing task instead of replacing it (docs: sql-reference/sql/
-- create-task, CREATE OR ALTER TASK; sql-reference/sql/create-or-alter: grants and state are kept),
-- so re-applying this file leaves a resumed task resumed: nightly exports do not stop silently.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

CREATE OR ALTER TASK EXPORT_MERCHANT_RISK
  WAREHOUSE = &{warehouse}
  SCHEDULE = '&{merchant_risk_schedule}'
  USER_TASK_TIMEOUT_MS = 3600000
  COMMENT = 'Snowsage: export merchant_risk (train, validation, score, manifest) to the bucket'
AS
  CALL EXPORT_DATASET('merchant_risk');

-- Resume when the bucket, the storage integration's IAM trust, the EventBridge rule and the
-- state machine are deployed (docs/snowflake.md, step "Resume the task"); run it once by hand
-- first with EXECUTE TASK EXPORT_MERCHANT_RISK; or CALL EXPORT_DATASET('merchant_risk');
--
--   ALTER TASK EXPORT_MERCHANT_RISK RESUME;
