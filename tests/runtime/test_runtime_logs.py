"""Logging: secrets never reach a log line, whatever shape they take in the event."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from arbtrio.runtime.logs import configure_logging, redactor
from arbtrio.venues.base import Credentials

SECRET = "hunter2-very-secret-api-key"
PASSPHRASE = "my pass phrase"


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=out, secrets=[SECRET, PASSPHRASE, ""])
    yield out
    redactor.clear()
    structlog.reset_defaults()


def test_secret_values_are_redacted_everywhere(stream: io.StringIO) -> None:
    log = structlog.get_logger("t")
    log.info("plain", value=SECRET)
    log.info(f"in the event text {SECRET}")
    log.warning("nested", payload={"headers": {"X-API-KEY": SECRET}, "list": [PASSPHRASE]})
    log.info("in a key", **{SECRET: 1})
    try:
        raise ValueError(f"signature mismatch for key {SECRET}")
    except ValueError:
        log.exception("with traceback")
    text = stream.getvalue()
    assert SECRET not in text and PASSPHRASE not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["value"] == "***"
    assert lines[2]["payload"]["headers"]["X-API-KEY"] == "***"
    assert "***" in lines[4]["exception"]


def test_credentials_object_logged_whole_shows_no_secret(stream: io.StringIO) -> None:
    creds = Credentials(api_key="AKIA-abc", api_secret=SECRET, passphrase=PASSPHRASE)
    structlog.get_logger("t").info("creds", creds=creds)
    assert SECRET not in stream.getvalue()


def test_bad_level_or_format_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"logging\.level"):
        configure_logging(level="loud")
    with pytest.raises(ValueError, match=r"logging\.format"):
        configure_logging(fmt="xml")
