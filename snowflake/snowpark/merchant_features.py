"""The sample dataset's merchant features in Snowpark Python: MERCHANT_FEATURES, as 10_merchant_features.sql.

The same view the SQL file creates, written as DataFrame operations ("Feature engineering
in Snowpark"): per-transaction flags, ``group_by("MERCHANT_ID").agg(...)``, then the rounding. Run
it with a Snowpark session (``create_view(session)``), or read the rows (``merchant_features``).
tests/snowflake/test_snowpark_features.py proves it returns the SQL view's rows, under Snowpark's
local testing mode fed with the sandbox's transactions. docs/snowflake.md, "Features in SQL or in
Snowpark", says when to use which.
"""

from snowflake.snowpark import DataFrame, Session
from snowflake.snowpark import functions as f

VIEW = "MERCHANT_FEATURES"
TRANSACTIONS = "MERCHANT_TRANSACTIONS"
DIGITS = 4  # every float is rounded, as the SQL view rounds it
SHARES = {  # output column -> the per-transaction flag it averages
    "NIGHT_SHARE": f.hour("TXN_TS") < 6,
    "ECOM_SHARE": f.col("CHANNEL") == "ECOM",
    "CROSS_BORDER_SHARE": f.col("IS_CROSS_BORDER"),
    "REFUND_RATE": f.col("IS_REFUND"),
    "CHARGEBACK_RATE": f.col("IS_CHARGEBACK"),
}


def merchant_features(session: Session) -> DataFrame:
    transactions = session.table(TRANSACTIONS)
    # Recency against the newest transaction in the table, so the features are deterministic.
    as_of = transactions.agg(f.max("TXN_TS").alias("AS_OF_TS"))
    flags = transactions.cross_join(as_of).select(
        "MERCHANT_ID",
        "TXN_ID",
        "TXN_TS",
        "AS_OF_TS",
        f.col("AMOUNT").cast("float").alias("AMOUNT_F"),
        *(f.iff(flag, f.lit(1.0), f.lit(0.0)).alias(f"{name}_FLAG") for name, flag in SHARES.items()),
    )
    per_merchant = flags.group_by("MERCHANT_ID").agg(
        f.count("TXN_ID").alias("TXN_COUNT"),
        f.avg("AMOUNT_F").alias("AVG_AMOUNT"),
        f.stddev_samp("AMOUNT_F").alias("STDDEV_AMOUNT"),
        f.max("AMOUNT_F").alias("MAX_AMOUNT"),
        f.count_distinct(f.to_date("TXN_TS")).alias("ACTIVE_DAYS"),
        f.datediff("day", f.max("TXN_TS"), f.max("AS_OF_TS")).alias("DAYS_SINCE_LAST_TXN"),
        *(f.avg(f"{name}_FLAG").alias(name) for name in SHARES),
    )
    return per_merchant.select(
        "MERCHANT_ID",
        "TXN_COUNT",
        f.round("AVG_AMOUNT", DIGITS).alias("AVG_AMOUNT"),
        f.round(f.coalesce("STDDEV_AMOUNT", f.lit(0.0)), DIGITS).alias("STDDEV_AMOUNT"),
        "MAX_AMOUNT",
        "ACTIVE_DAYS",
        "DAYS_SINCE_LAST_TXN",
        *(f.round(name, DIGITS).alias(name) for name in SHARES),
    )


def create_view(session: Session) -> None:
    """CREATE OR REPLACE VIEW MERCHANT_FEATURES from the DataFrame (docs: developer-guide/snowpark/
    reference/python/latest/snowpark/api/snowflake.snowpark.DataFrame.create_or_replace_view)."""
    merchant_features(session).create_or_replace_view(VIEW)
