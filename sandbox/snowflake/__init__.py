"""The Snowflake stand-in: fakesnow served over HTTP, the project's setup SQL applied to it, EXPORT_DATASET."""
