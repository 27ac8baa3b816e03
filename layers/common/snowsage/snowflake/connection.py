"""Connecting to Snowflake with key-pair credentials from Secrets Manager."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from snowsage.errors import SnowflakeUnavailable
from snowsage.settings import SnowflakeSettings

SECRET_MAX_AGE_SECONDS = 300


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


def connect_kwargs(settings: SnowflakeSettings, credentials: KeyPairCredentials) -> dict[str, Any]:
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


ConnectionFactory = Callable[[], Any]


def connection_factory(settings: SnowflakeSettings) -> ConnectionFactory:
    def connect() -> Any:
        import snowflake.connector

        try:
            return snowflake.connector.connect(
                **connect_kwargs(settings, fetch_credentials(settings.snowflake_secret_arn))
            )
        except (
            snowflake.connector.errors.OperationalError,
            snowflake.connector.errors.InterfaceError,
        ) as error:
            raise SnowflakeUnavailable(
                f"cannot connect to Snowflake: {error.__class__.__name__}: {error.msg}"
            ) from None

    return connect


def is_transient(error: BaseException) -> bool:
    """Network trouble, timeouts, a busy service: worth a retry."""
    import snowflake.connector.errors as sf_errors

    return isinstance(
        error, sf_errors.OperationalError | sf_errors.InterfaceError | TimeoutError | ConnectionError
    )


@contextmanager
def session(factory: ConnectionFactory) -> Iterator[Any]:
    """A connection that is always closed; transient driver errors become SnowflakeUnavailable."""
    connection = factory()
    try:
        yield connection
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
