"""Snowflake access: connection (key-pair auth), SQL building, loads and the run audit.

Only LoadPredictions and RecordRun import this package; the connector is imported lazily so
nothing else pays for it at cold start.
"""
