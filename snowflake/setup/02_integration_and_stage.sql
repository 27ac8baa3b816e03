-- Snowsage 02: storage integration, external stage ML_STAGE on the bucket, CSV file formats.
-- Variables: integration, aws_role_arn, bucket, admin_role, pipeline_role, database, schema.
--
-- The IAM role and the integration depend on each other (docs/snowflake.md, "Bucket and storage
-- integration"): create the role with a placeholder trust policy, apply this file, read
-- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID from the DESC INTEGRATION below, then set
-- them in the role's trust policy. The integration is never replaced (CREATE … IF NOT EXISTS, then
-- ALTER): CREATE OR REPLACE would mint a new external ID and break the trust policy.

USE ROLE ACCOUNTADMIN;

CREATE STORAGE INTEGRATION IF NOT EXISTS &{integration}
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '&{aws_role_arn}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://&{bucket}/')
  COMMENT = 'Snowsage: exports/ (unload) and predictions/ (load) on the pipeline bucket';

ALTER STORAGE INTEGRATION &{integration} SET
  STORAGE_AWS_ROLE_ARN = '&{aws_role_arn}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://&{bucket}/');

GRANT USAGE ON INTEGRATION &{integration} TO ROLE &{admin_role};

-- Prints STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID for the IAM role's trust policy.
DESC INTEGRATION &{integration};

USE ROLE &{admin_role};
USE SCHEMA &{database}.&{schema};

-- The stage and the file formats are created once, then ALTERed to this file's definition: never
-- replaced. CREATE OR REPLACE would drop the pipeline role's grants on them until the GRANT lines
-- below ran again, so a load during an apply would fail (docs: sql-reference/sql/create-stage and
-- create-file-format: OR REPLACE drops the object; alter-stage, alter-file-format: SET changes it in
-- place). A new object is created bare (a file format its TYPE; the stage its URL, or it would be
-- internal) and the ALTER below it sets this file's definition, on a new or an older object alike.

-- Unload format for exports: no header (set on the COPY), no compression (SageMaker's built-in
-- XGBoost reads plain text/csv), NULL as an empty field (XGBoost reads it as missing).
-- No enclosing character (XGBoost reads no quotes), so EMPTY_FIELD_AS_NULL must be FALSE: with
-- FIELD_OPTIONALLY_ENCLOSED_BY = NONE the unload docs call TRUE prohibited (docs: user-guide/
-- data-unload-considerations, "Empty strings and NULL values"). NULL_IF's first value is what a
-- NULL unloads as: an empty field.
CREATE FILE FORMAT IF NOT EXISTS ML_EXPORT_CSV TYPE = CSV;
ALTER FILE FORMAT ML_EXPORT_CSV SET
  FIELD_DELIMITER = ','
  FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  NULL_IF = ('')
  EMPTY_FIELD_AS_NULL = FALSE
  COMPRESSION = NONE
  COMMENT = 'Snowsage: export CSV (label or id first, no header)';

-- Load format for batch-transform output: `id,score` lines, no header.
CREATE FILE FORMAT IF NOT EXISTS ML_PREDICTIONS_CSV TYPE = CSV;
ALTER FILE FORMAT ML_PREDICTIONS_CSV SET
  FIELD_DELIMITER = ','
  SKIP_HEADER = 0
  FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ESCAPE_UNENCLOSED_FIELD = NONE
  EMPTY_FIELD_AS_NULL = TRUE
  COMPRESSION = AUTO
  COMMENT = 'Snowsage: predictions (id,score) written by SageMaker batch transform';

-- Load format for a multi-class transform output, `id,[p0, p1, ...]`: each line whole, one field
-- (FIELD_DELIMITER = NONE; docs: sql-reference/sql/create-file-format), split by LoadPredictions.
CREATE FILE FORMAT IF NOT EXISTS ML_PREDICTIONS_LINES TYPE = CSV;
ALTER FILE FORMAT ML_PREDICTIONS_LINES SET
  FIELD_DELIMITER = NONE
  SKIP_HEADER = 0
  FIELD_OPTIONALLY_ENCLOSED_BY = NONE
  ESCAPE_UNENCLOSED_FIELD = NONE
  EMPTY_FIELD_AS_NULL = TRUE
  COMPRESSION = AUTO
  COMMENT = 'Snowsage: multi-class predictions (id,[p0, p1, ...]) written by SageMaker batch transform';

-- The stage is the bucket root, so a stage path equals the S3 key (exports/…, predictions/…).
CREATE STAGE IF NOT EXISTS ML_STAGE URL = 's3://&{bucket}/' STORAGE_INTEGRATION = &{integration};
ALTER STAGE ML_STAGE SET
  URL = 's3://&{bucket}/'
  STORAGE_INTEGRATION = &{integration}
  COMMENT = 'Snowsage: the pipeline bucket';

GRANT USAGE ON STAGE ML_STAGE TO ROLE &{pipeline_role};
GRANT USAGE ON FILE FORMAT ML_PREDICTIONS_CSV TO ROLE &{pipeline_role};
GRANT USAGE ON FILE FORMAT ML_PREDICTIONS_LINES TO ROLE &{pipeline_role};
