-- Snowsage 30: EXPORT_DATASET(DATASET_NAME) unloads one ML_DATASETS row to the bucket:
--   exports/<dataset>/<export_id>/train/       training rows, label first, no header (~80 %)
--   exports/<dataset>/<export_id>/validation/  held-out training rows (~20 %), same shape
--   exports/<dataset>/<export_id>/score/       scoring rows, id first, no header
--   exports/<dataset>/<export_id>/manifest.json   LAST: its arrival starts the pipeline
-- A row with TRAINING_ENGINE = 'SNOWFLAKE' gets no train/ or validation/: TRAIN_MODEL trains on the
-- training view inside Snowflake, so its training rows never leave it. A row with SCORING_ENGINE =
-- 'SNOWFLAKE' gets no score/: ML_PREDICT_<DATASET> scores the scoring view in place; its rows are
-- counted instead. The manifest names the engines, the sections written and the scoring view
-- (docs/contracts.md, "The SNOWFLAKE training engine", "The SNOWFLAKE scoring engine").
-- export_id is the UTC start time, lower case (20261126t100000z). Each section's number of files,
-- rows and bytes come from the unload results (DETAILED_OUTPUT = TRUE, read back with RESULT_SCAN of the COPY's
-- SQLID); the column names from INFORMATION_SCHEMA in view order. An empty section, or one whose
-- columns cannot be found, raises: no manifest, no run.
-- Unloaded file names carry the COPY's query id (INCLUDE_QUERY_ID = TRUE): when Snowflake retries
-- an unload internally it first removes the files of the failed attempt, so a prefix holds exactly
-- the files the manifest counts (docs: sql-reference/sql/copy-into-location, INCLUDE_QUERY_ID).
-- Variables: admin_role, warehouse, database, schema.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

CREATE OR REPLACE PROCEDURE EXPORT_DATASET(DATASET_NAME VARCHAR)
  RETURNS VARIANT
  LANGUAGE SQL
  COMMENT = 'Snowsage: unload train/validation/score CSVs of a dataset (none that a SNOWFLAKE engine reads in place), then its manifest.json'
  EXECUTE AS OWNER
AS
$$
DECLARE
  -- The export SELECTs. ONE SOURCE: the sandbox runs these very texts (snowsage_setup/sqlscript.py
  -- reads the marked lines), with {id_column}, {training_view} and {scoring_view} replaced the
  -- same way as below. Split: a row goes to validation when the first two hex digits of MD5 of
  -- its id are below '33' (51 of 256 values, ~20 %). MD5 gives the same lower-case hex in
  -- Snowflake and DuckDB (HASH() does not), so the split is stable across exports and engines.
  -- snowsage:export-query train
  train_query VARCHAR DEFAULT 'SELECT * EXCLUDE ({id_column}) FROM {training_view} WHERE SUBSTR(MD5(TO_VARCHAR({id_column})), 1, 2) >= ''33''';
  -- snowsage:export-query validation
  validation_query VARCHAR DEFAULT 'SELECT * EXCLUDE ({id_column}) FROM {training_view} WHERE SUBSTR(MD5(TO_VARCHAR({id_column})), 1, 2) < ''33''';
  -- snowsage:export-query score
  score_query VARCHAR DEFAULT 'SELECT * FROM {scoring_view}';
  -- The labels' summary PrepareRun checks a model's labels against (multi-class: 0..k-1), and
  -- counts multi:softprob's classes from: one aggregate over the training view.
  -- snowsage:export-query labels
  labels_query VARCHAR DEFAULT 'SELECT COUNT(DISTINCT {label_column}) AS DISTINCT_LABELS, MIN({label_column}) AS MIN_LABEL, MAX({label_column}) AS MAX_LABEL, COUNT_IF({label_column} <> FLOOR({label_column})) AS NON_INTEGERS FROM {training_view}';

  db VARCHAR DEFAULT '&{database}';
  sch VARCHAR DEFAULT '&{schema}';
  -- Bounded files: Snowflake splits each section into files of at most 64 MiB (and in parallel).
  max_file_size INTEGER DEFAULT 67108864;
  ident_pattern VARCHAR DEFAULT '[A-Za-z_][A-Za-z0-9_$]{0,254}';
  -- snowsage.names.DATASET_PATTERN: snake_case, at most 50 (the model package group name fits 63).
  name_pattern VARCHAR DEFAULT '[a-z0-9]+(_[a-z0-9]+)*';
  name_max INTEGER DEFAULT 50;

  registered INTEGER DEFAULT 0;
  training_view VARCHAR;
  scoring_view VARCHAR;
  id_column VARCHAR;
  label_column VARCHAR;
  predictions_table VARCHAR;
  objective VARCHAR;
  evaluation_metric VARCHAR;
  evaluation_threshold FLOAT;
  hyperparameters VARCHAR;
  training_script VARCHAR;
  training_instance_count NUMBER;
  tuning VARCHAR;
  training_engine VARCHAR;
  scoring_engine VARCHAR;
  -- The engines the export is for: SNOWFLAKE (the row says so) or SAGEMAKER (NULL or anything else;
  -- PrepareRun refuses a value that is neither, naming ML_DATASETS.TRAINING_ENGINE or SCORING_ENGINE).
  engine VARCHAR;
  scoring VARCHAR;
  scoring_summary OBJECT;
  written ARRAY DEFAULT ARRAY_CONSTRUCT();
  label_summary OBJECT;
  predictions_columns ARRAY;
  started_at TIMESTAMP_NTZ DEFAULT SYSDATE();
  export_id VARCHAR;
  base VARCHAR;
  section VARCHAR;
  section_query VARCHAR;
  section_view VARCHAR;
  section_prefix VARCHAR;
  section_files INTEGER;
  section_rows INTEGER;
  section_bytes INTEGER;
  section_columns ARRAY;
  copy_query_id VARCHAR;
  sections OBJECT DEFAULT OBJECT_CONSTRUCT();
  copy_sql VARCHAR;
  manifest OBJECT;
  manifest_literal VARCHAR;

  dataset_not_found EXCEPTION (-20001, 'EXPORT_DATASET: no enabled ML_DATASETS row with this NAME');
  invalid_name EXCEPTION (-20002, 'EXPORT_DATASET: dataset name or an ML_DATASETS identifier is invalid');
  empty_section EXCEPTION (-20003, 'EXPORT_DATASET: a section (train, validation or score) has no rows; no manifest written');
  column_order EXCEPTION (-20004, 'EXPORT_DATASET: training view must be id, label, features; scoring view id, features');
  no_columns EXCEPTION (-20005, 'EXPORT_DATASET: no columns found in INFORMATION_SCHEMA for a section''s view; no manifest written');
  section_cursor CURSOR FOR SELECT COLUMN1 AS SECTION FROM VALUES ('train'), ('validation'), ('score');
BEGIN
  IF (NOT REGEXP_LIKE(DATASET_NAME, name_pattern) OR LENGTH(DATASET_NAME) > name_max) THEN
    RAISE invalid_name;
  END IF;

  SELECT COUNT(*) INTO :registered
    FROM &{database}.&{schema}.ML_DATASETS
    WHERE NAME = :DATASET_NAME AND ENABLED;
  IF (registered <> 1) THEN
    RAISE dataset_not_found;
  END IF;

  SELECT TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE,
         OBJECTIVE, EVALUATION_METRIC, EVALUATION_THRESHOLD, HYPERPARAMETERS,
         TRAINING_SCRIPT, TRAINING_INSTANCE_COUNT, TUNING, TRAINING_ENGINE, SCORING_ENGINE
    INTO :training_view, :scoring_view, :id_column, :label_column, :predictions_table,
         :objective, :evaluation_metric, :evaluation_threshold, :hyperparameters,
         :training_script, :training_instance_count, :tuning, :training_engine, :scoring_engine
    FROM &{database}.&{schema}.ML_DATASETS
    WHERE NAME = :DATASET_NAME AND ENABLED;
  IF (NOT (REGEXP_LIKE(training_view, ident_pattern) AND REGEXP_LIKE(scoring_view, ident_pattern)
           AND REGEXP_LIKE(id_column, ident_pattern) AND REGEXP_LIKE(label_column, ident_pattern)
           AND REGEXP_LIKE(predictions_table, ident_pattern))) THEN
    RAISE invalid_name;
  END IF;
  -- Registry names and the schema are unquoted identifiers: Snowflake stores and reports them
  -- upper case (docs: sql-reference/identifiers-syntax), so they are compared upper case.
  sch := UPPER(sch);
  training_view := UPPER(training_view);
  scoring_view := UPPER(scoring_view);
  id_column := UPPER(id_column);
  label_column := UPPER(label_column);
  predictions_table := UPPER(predictions_table);

  engine := IFF(training_engine = 'SNOWFLAKE', 'SNOWFLAKE', 'SAGEMAKER');
  scoring := IFF(scoring_engine = 'SNOWFLAKE', 'SNOWFLAKE', 'SAGEMAKER');
  export_id := LOWER(TO_VARCHAR(started_at, 'YYYYMMDD"T"HH24MISS"Z"'));
  base := 'exports/' || DATASET_NAME || '/' || export_id || '/';

  FOR rec IN section_cursor DO
    section := rec.SECTION;
    -- The SNOWFLAKE engine trains on the view: no train/validation unload (CONTINUE starts the
    -- loop's next iteration; docs: sql-reference/snowflake-scripting/continue).
    IF (engine = 'SNOWFLAKE' AND section <> 'score') THEN
      CONTINUE;
    END IF;
    section_query := IFF(section = 'train', train_query, IFF(section = 'validation', validation_query, score_query));
    section_query := REPLACE(section_query, '{id_column}', id_column);
    section_query := REPLACE(section_query, '{training_view}', db || '.' || sch || '.' || training_view);
    section_query := REPLACE(section_query, '{scoring_view}', db || '.' || sch || '.' || scoring_view);
    section_view := IFF(section = 'score', scoring_view, training_view);
    section_prefix := base || section || '/';

    copy_sql := 'COPY INTO @' || db || '.' || sch || '.ML_STAGE/' || section_prefix
      || ' FROM (' || section_query || ')'
      || ' FILE_FORMAT = (FORMAT_NAME = ''' || db || '.' || sch || '.ML_EXPORT_CSV'')'
      || ' HEADER = FALSE MAX_FILE_SIZE = ' || max_file_size
      || ' INCLUDE_QUERY_ID = TRUE DETAILED_OUTPUT = TRUE';
    -- The SNOWFLAKE scoring engine scores the view in place: its rows are counted, not unloaded
    -- (one row shaped as DETAILED_OUTPUT's, a file of that many rows: the checks below stay the same).
    IF (section = 'score' AND scoring = 'SNOWFLAKE') THEN
      copy_sql := 'SELECT NULL, 0, COUNT(*) FROM (' || section_query || ')';
    END IF;
    EXECUTE IMMEDIATE :copy_sql;
    -- SQLID: the query id of the last query run, here the COPY (docs: developer-guide/
    -- snowflake-scripting/query-id); kept, so nothing run later can change what is scanned.
    copy_query_id := SQLID;

    -- DETAILED_OUTPUT gives one row per unloaded file: its path, its size, its rows, in that order
    -- (docs: sql-reference/sql/copy-into-location, DETAILED_OUTPUT). The docs print no column
    -- names, so the columns are read by position. A query with no rows writes no file: no row
    -- has rows ($3 > 0), the section has 0 rows and raises below. The manifest keeps the
    -- section's summary (files, rows, bytes), not one entry per file: a large unload makes
    -- 100,000 files, and PrepareRun compares a listing of the prefix with the summary.
    SELECT COUNT(*), COALESCE(SUM($3::INTEGER), 0), COALESCE(SUM($2::INTEGER), 0)
      INTO :section_files, :section_rows, :section_bytes
      FROM TABLE(RESULT_SCAN(:copy_query_id))
      WHERE TRY_TO_NUMBER($3::VARCHAR) > 0;
    IF (section_rows = 0) THEN
      RAISE empty_section;
    END IF;

    -- The unloaded columns in order: the view's columns, minus the id for train/validation.
    SELECT ARRAY_AGG(COLUMN_NAME) WITHIN GROUP (ORDER BY ORDINAL_POSITION)
      INTO :section_columns
      FROM &{database}.INFORMATION_SCHEMA.COLUMNS
      WHERE TABLE_SCHEMA = :sch AND TABLE_NAME = :section_view
        AND (:section = 'score' OR COLUMN_NAME <> :id_column);
    IF (section_columns IS NULL OR ARRAY_SIZE(section_columns) = 0) THEN
      RAISE no_columns;
    END IF;
    IF (section_columns[0]::VARCHAR <> IFF(section = 'score', id_column, label_column)) THEN
      RAISE column_order;
    END IF;

    IF (section = 'score') THEN
      scoring_summary := OBJECT_CONSTRUCT('name', scoring_view, 'columns', section_columns, 'rows', section_rows);
    END IF;
    IF (section <> 'score' OR scoring = 'SAGEMAKER') THEN
      sections := OBJECT_INSERT(sections, section, OBJECT_CONSTRUCT(
        'prefix', section_prefix,
        'columns', section_columns,
        'files', section_files,
        'rows', section_rows,
        'bytes', section_bytes));
      written := ARRAY_APPEND(written, section);
    END IF;
  END FOR;

  -- The labels' summary (the marked query above) and the predictions table's columns: PrepareRun
  -- checks the dataset's model against them.
  section_query := REPLACE(REPLACE(labels_query, '{label_column}', label_column),
    '{training_view}', db || '.' || sch || '.' || training_view);
  EXECUTE IMMEDIATE :section_query;
  copy_query_id := SQLID;
  SELECT OBJECT_CONSTRUCT('distinct', $1::INTEGER, 'min', $2::FLOAT, 'max', $3::FLOAT, 'non_integers', $4::INTEGER)
    INTO :label_summary
    FROM TABLE(RESULT_SCAN(:copy_query_id));
  SELECT ARRAY_AGG(COLUMN_NAME) WITHIN GROUP (ORDER BY ORDINAL_POSITION)
    INTO :predictions_columns
    FROM &{database}.INFORMATION_SCHEMA.COLUMNS
    WHERE TABLE_SCHEMA = :sch AND TABLE_NAME = :predictions_table;

  -- Version 2: the row's model settings as written (NULL: the template's; OBJECT_CONSTRUCT_KEEP_NULL
  -- keeps them as JSON null, docs: sql-reference/functions/object_construct_keep_null). A section
  -- not written is NULL in GET, and OBJECT_CONSTRUCT leaves its key out (docs:
  -- sql-reference/functions/object_construct): a SNOWFLAKE export has no train/validation key.
  manifest := OBJECT_CONSTRUCT(
    'version', 2,
    'dataset', DATASET_NAME,
    'export_id', export_id,
    'created_at', TO_VARCHAR(started_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'id_column', id_column,
    'label_column', label_column,
    'predictions_table', predictions_table,
    'train', GET(sections, 'train'),
    'validation', GET(sections, 'validation'),
    'score', GET(sections, 'score'),
    'model', OBJECT_CONSTRUCT_KEEP_NULL(
      'objective', objective,
      'evaluation_metric', evaluation_metric,
      'evaluation_threshold', evaluation_threshold,
      'hyperparameters', hyperparameters,
      'training_script', training_script,
      'training_instance_count', training_instance_count,
      'tuning', tuning,
      'training_engine', training_engine,
      'scoring_engine', scoring_engine),
    'label_summary', label_summary,
    'predictions_columns', COALESCE(predictions_columns, ARRAY_CONSTRUCT()),
    'engine', engine,
    'sections', written,
    'scoring_engine', scoring,
    'scoring_view', scoring_summary);

  -- The manifest goes LAST: the S3 event on manifest.json starts the pipeline.
  manifest_literal := REPLACE(REPLACE(TO_JSON(manifest), '\\', '\\\\'), '''', '''''');
  copy_sql := 'COPY INTO @' || db || '.' || sch || '.ML_STAGE/' || base || 'manifest.json'
    || ' FROM (SELECT PARSE_JSON(''' || manifest_literal || '''))'
    || ' FILE_FORMAT = (TYPE = JSON COMPRESSION = NONE) SINGLE = TRUE OVERWRITE = TRUE';
  EXECUTE IMMEDIATE :copy_sql;

  RETURN manifest;
END;
$$;
