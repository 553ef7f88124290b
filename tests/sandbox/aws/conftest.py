"""Fixtures for the AWS stand-in tests: one moto server per module, stopped afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.sandbox.aws import AwsSandbox


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsSandbox]:
    sandbox = AwsSandbox().start()
    yield sandbox
    sandbox.stop()
    assert not [t for t in threading.enumerate() if t.name == "aws-sandbox"], "moto thread left behind"
