"""Connecting to Snowflake with key-pair credentials from Secrets Manager.

Time: a function's Snowflake work is bounded by three settings, and template.yaml gives each
function a Timeout above their sum (tests/template/test_snowflake_timeouts.py), so the driver's
error, which the state machine retries, always comes before Lambda's own timeout:

* ``login_timeout``: the connect, the driver's retries included;
* ``statement_timeout``: every statement of one invocation together. Each ``execute`` gets the
  time left as its ``timeout=`` (connector 4.8.1 otherwise uses ``network_timeout`` as the cancel
  timer: ``cursor.py`` ``_execute_helper``), and ``STATEMENT_TIMEOUT_IN_SECONDS`` makes Snowflake
  cancel any single statement after it (docs: sql-reference/parameters, STATEMENT_TIMEOUT_IN_SECONDS);
* ``network_timeout``: the requests that are not statements (the cancel, the close).

A statement that runs out of time is transient (``SnowflakeUnavailable``): a later attempt, on a
warehouse that has resumed or is less busy, may succeed. ``is_transient`` is the one rule every
Snowflake call of the pipeline classifies its errors by (TRAIN_MODEL's CALL included).

Locks: a DML statement waits at most ``LOCK_TIMEOUT_SECONDS`` for a table lock (the parameter's
default is 12 hours). A transaction whose session vanished keeps its locks until Snowflake aborts
it, once it has blocked another transaction while idle for 5 minutes (docs: sql-reference/
transactions, "Aborting transactions"): a retry waits for it a bounded while per attempt, and the
retries together outlast those 5 minutes (tests/template/test_snowflake_timeouts.py).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from snowsage.errors import SnowflakeUnavailable
from snowsage.settings import SnowflakeSettings

LOGGER = logging.getLogger(__name__)
SECRET_MAX_AGE_SECONDS = 300

# Snowflake error numbers of a statement stopped for time (both SQLSTATE 57014, query canceled):
# 000630 "Statement reached its statement or warehouse timeout of N second(s) and was canceled"
# (STATEMENT_TIMEOUT_IN_SECONDS), and 000604 "SQL execution canceled", which is what the
# connector's own cancel timer produces ("SQL execution was cancelled by the client due to a
# timeout", cursor.py).
STATEMENT_TIMED_OUT_ERRNOS = frozenset({604, 630})
# LOCK_TIMEOUT (docs: sql-reference/parameters): seconds a statement waits for a lock before it is
# aborted. 90 s x the 5 attempts of a SnowflakeUnavailable Retry > the 5 minutes after which
# Snowflake aborts an idle detached transaction that blocks another (sql-reference/transactions).
LOCK_TIMEOUT_SECONDS = 90
DETACHED_TRANSACTION_IDLE_SECONDS = 300


# --- where the driver writes (HOME is read-only on Lambda) ------------------------------------


def driver_cache_root() -> Path:
    """``/tmp/snowflake`` on Lambda (the only writable path), the platform's temp dir elsewhere."""
    return Path(tempfile.gettempdir()) / "snowflake"


def driver_cache_environment(root: Path) -> dict[str, str]:
    """The variables connector 4.8.1 reads to decide where it writes, each pointed under ``root``:

    * ``SF_OCSP_RESPONSE_CACHE_DIR``: the OCSP response cache (``ocsp_snowflake.OCSPCache``,
      read once at import; default ``~/.cache/snowflake``);
    * ``SF_TEMPORARY_CREDENTIAL_CACHE_DIR``: the token cache (``token_cache.FileTokenCache``;
      default ``$XDG_CACHE_HOME`` or ``~/.cache/snowflake``; the directory must exist, mode 0700).

    The OCSP validation cache has no variable (``ocsp_snowflake``: ``~/.cache/snowflake/…``, fixed
    at import): ``point_driver_caches_at`` moves HOME when HOME cannot be written. The CRL cache
    has none either: ``connect_kwargs`` sets ``crl_cache_dir``.
    """
    return {
        "SF_OCSP_RESPONSE_CACHE_DIR": str(root / "ocsp"),
        "SF_TEMPORARY_CREDENTIAL_CACHE_DIR": str(root / "credentials"),
    }


def _writable_directory(path: str | None) -> bool:
    return bool(path) and os.path.isdir(str(path)) and os.access(str(path), os.W_OK)


def point_driver_caches_at(root: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Set the cache variables (keeping any the deployment set) and create their directories;
    where HOME is missing or read-only (Lambda), HOME becomes ``root/home``.

    Must run before ``import snowflake.connector``: the OCSP caches are placed at import.
    """
    env = os.environ if environ is None else environ
    if not _writable_directory(env.get("HOME")):
        env["HOME"] = str(root / "home")
        Path(env["HOME"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, default in driver_cache_environment(root).items():
        directory = Path(env.setdefault(name, default))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)


# --- credentials ------------------------------------------------------------------------------


class KeyPairCredentials(BaseModel):
    """The secret's JSON: ``{"user", "private_key" (PEM), "private_key_passphrase"?}``.

    SecretStr keeps the key and passphrase out of reprs, logs and tracebacks.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    user: str
    private_key: SecretStr
    private_key_passphrase: SecretStr | None = None

    def private_key_der(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        passphrase = (
            self.private_key_passphrase.get_secret_value().encode() if self.private_key_passphrase else None
        )
        key = serialization.load_pem_private_key(
            self.private_key.get_secret_value().encode(), password=passphrase
        )
        return key.private_bytes(
            encoding=serialization.Encoding.DER,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )


def fetch_credentials(secret_arn: str) -> KeyPairCredentials:
    """Read the secret through powertools parameters (cached for five minutes per container)."""
    from aws_lambda_powertools.utilities import parameters

    document = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    return KeyPairCredentials.model_validate(document)


def session_parameters(settings: SnowflakeSettings, query_tag: str) -> dict[str, Any]:
    """Per session: Snowflake cancels a statement after the budget (000630), a lock wait after
    LOCK_TIMEOUT_SECONDS, and every query is tagged with the run id (QUERY_HISTORY.QUERY_TAG; docs:
    sql-reference/parameters, QUERY_TAG, LOCK_TIMEOUT)."""
    return {
        "STATEMENT_TIMEOUT_IN_SECONDS": settings.snowflake_statement_timeout,
        "LOCK_TIMEOUT": min(LOCK_TIMEOUT_SECONDS, settings.snowflake_statement_timeout),
        "QUERY_TAG": query_tag,
    }


def connect_kwargs(
    settings: SnowflakeSettings, credentials: KeyPairCredentials, query_tag: str = "snowsage"
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "account": settings.snowflake_account,
        "user": credentials.user,
        "private_key": credentials.private_key_der(),
        "warehouse": settings.snowflake_warehouse,
        "database": settings.snowflake_database,
        "schema": settings.snowflake_schema,
        "role": settings.snowflake_role,
        "login_timeout": settings.snowflake_login_timeout,
        "network_timeout": settings.snowflake_network_timeout,
        "session_parameters": session_parameters(settings, query_tag),
        "crl_cache_dir": str(driver_cache_root() / "crls"),
        "application": "snowsage",
        "client_session_keep_alive": False,
    }
    # Overrides for the local sandbox (`python -m sandbox serve`); empty in production.
    if settings.snowflake_host:
        kwargs["host"] = settings.snowflake_host
    if settings.snowflake_port:
        kwargs["port"] = int(settings.snowflake_port)
    if settings.snowflake_protocol:
        kwargs["protocol"] = settings.snowflake_protocol
    return kwargs


# --- connections and sessions -----------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionFactory:
    """Opens a connection tagged with a query tag; every session it opens gets
    ``statement_budget_seconds`` for all of its statements together."""

    open: Callable[[str], Any]
    statement_budget_seconds: int
    clock: Callable[[], float] = time.monotonic


def connection_factory(settings: SnowflakeSettings) -> ConnectionFactory:
    def open_connection(query_tag: str) -> Any:
        point_driver_caches_at(driver_cache_root())
        import snowflake.connector

        try:
            return snowflake.connector.connect(
                **connect_kwargs(settings, fetch_credentials(settings.snowflake_secret_arn), query_tag)
            )
        except (
            snowflake.connector.errors.OperationalError,
            snowflake.connector.errors.InterfaceError,
        ) as error:
            raise SnowflakeUnavailable(
                f"cannot connect to Snowflake: {error.__class__.__name__}: {error.msg}"
            ) from None

    return ConnectionFactory(
        open=open_connection, statement_budget_seconds=settings.snowflake_statement_timeout
    )


def is_transient(error: BaseException) -> bool:
    """Network trouble, timeouts (the driver's and Snowflake's statement timeout), a busy service:
    the one rule for every Snowflake call (loads, run records, publication, TRAIN_MODEL)."""
    import snowflake.connector.errors as sf_errors

    if isinstance(error, sf_errors.ProgrammingError):
        return error.errno in STATEMENT_TIMED_OUT_ERRNOS
    return isinstance(
        error, sf_errors.OperationalError | sf_errors.InterfaceError | TimeoutError | ConnectionError
    )


def waited_for_a_lock(error: BaseException, waited_seconds: float) -> bool:
    """A DML statement that failed transiently, or after at least LOCK_TIMEOUT_SECONDS: what a wait
    for a table lock ends in (the lock-timeout error's number is not documented: the wait is read)."""
    return is_transient(error) or waited_seconds >= LOCK_TIMEOUT_SECONDS


def lock_wait_message(table: str, waited_seconds: float) -> str:
    return (
        f"waited {waited_seconds:.0f} s for a lock on {table}: another transaction holds it, e.g. an"
        " earlier attempt's whose session vanished. Snowflake aborts such a detached transaction once"
        f" it has blocked another while idle for {DETACHED_TRANSACTION_IDLE_SECONDS // 60} minutes"
        " (sql-reference/transactions, 'Aborting transactions'), so a later attempt gets the lock;"
        " SHOW LOCKS and SELECT SYSTEM$ABORT_TRANSACTION(<id>) end it sooner"
    )


class Session:
    """One connection's cursor; each statement may use what is left of the session's budget.

    ``elapsed_seconds``: the statements' time as this client observed it, failed ones included (the
    run's warehouse time in snowsage.cost: an upper bound of what the warehouse spent on them, by
    the round trips).
    """

    def __init__(self, connection: Any, budget_seconds: int, clock: Callable[[], float]) -> None:
        self.connection = connection
        self.cursor = connection.cursor()
        self._budget_seconds = budget_seconds
        self._deadline = clock() + budget_seconds
        self._clock = clock
        self.elapsed_seconds = 0.0

    def execute(self, statement: str, params: Mapping[str, Any] | None = None) -> Any:
        started = self._clock()
        left = math.floor(self._deadline - started)
        if left < 1:
            raise SnowflakeUnavailable(
                f"the statements used their {self._budget_seconds} s budget (SNOWFLAKE_STATEMENT_TIMEOUT)"
            )
        try:
            return self.cursor.execute(statement, params, timeout=left)
        finally:
            self.elapsed_seconds += max(0.0, self._clock() - started)

    def execute_waiting_for_lock(
        self, statement: str, table: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """``execute`` a DML statement that may wait for ``table``'s lock: a wait that ends in an
        error is SnowflakeUnavailable saying so (lock_wait_message), retried by the state machine."""
        started = self._clock()
        try:
            return self.execute(statement, params)
        except SnowflakeUnavailable:
            raise
        except Exception as error:
            waited = self._clock() - started
            if not waited_for_a_lock(error, waited):
                raise
            raise SnowflakeUnavailable(
                f"{lock_wait_message(table, waited)}: {error.__class__.__name__}: {error}"
            ) from None

    def warehouse_seconds(self) -> float:
        """``elapsed_seconds`` as the state carries it (milliseconds)."""
        return round(self.elapsed_seconds, 3)


def roll_back(snowflake: Session) -> None:
    """Undo the open transaction; the error that made us roll back is the one to report.

    A ROLLBACK that fails too (the connection is gone, the budget is spent) is only logged: if it
    replaced the original error, a permanent RowCountMismatch would be retried as
    SnowflakeUnavailable. Nothing is committed either way: an open transaction is rolled back
    when its session ends, and one whose session vanished is aborted by Snowflake
    (docs: sql-reference/transactions).
    """
    try:
        snowflake.execute("ROLLBACK")
    except Exception as error:
        LOGGER.warning(
            "ROLLBACK failed (%s: %s); the session's close ends the transaction", type(error).__name__, error
        )


@contextmanager
def session(factory: ConnectionFactory, query_tag: str) -> Iterator[Session]:
    """A connection that is always closed; transient driver errors become SnowflakeUnavailable."""
    connection = factory.open(query_tag)
    try:
        yield Session(connection, factory.statement_budget_seconds, factory.clock)
    except SnowflakeUnavailable:
        raise
    except Exception as error:
        if is_transient(error):
            raise SnowflakeUnavailable(
                f"Snowflake failed mid-operation: {error.__class__.__name__}: {error}"
            ) from None
        raise
    finally:
        connection.close()
