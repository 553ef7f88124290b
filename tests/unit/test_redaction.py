"""`bot.redaction`: known secrets and secret-shaped strings are masked in every log line, at every
level, whatever library printed them; ordinary text stays as it was."""

from __future__ import annotations

import io
import logging
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

from bot import redaction
from bot.redaction import MASK, RedactingFilter, Redactor

SESSION_TOKEN = "FQoGZXIvYXdzEBYaDf84Q7oh+Pe0u1Mn9kD/wRnKOgoTZJJiC=="
SECRET_KEY = "cXkgk+Znfr1mYIJsOPXkJwY7YguSuEyz5r61m4M/"
ACCESS_KEY_ID = "ASIATBZHZWQAXT2OHI4S"
EKS_TOKEN = "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eQ"
BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
APP_TOKEN = "xapp-1-A0SANDBOX-1234567890-0a1b2c3d4e5f"
CLUSTER_TOKEN = "sandbox-admin-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2lnbmF0dXJlLXBhcnQ"

# What the libraries print at DEBUG (shapes copied from botocore, urllib3, slack_sdk, http.client).
LIBRARY_LINES = [
    # botocore.endpoint: the prepared request's headers
    "Sending http request: <AWSPreparedRequest stream_output=False, method=POST, url=https://sts/, "
    f"headers={{'X-Amz-Date': b'20261129T222546Z', 'X-Amz-Security-Token': b'{SESSION_TOKEN}', "
    f"'Authorization': b'AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261129/us-east-1/sts/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc'}>",
    # botocore.parsers: an STS answer, XML and JSON
    f"Response body: b'<AssumeRoleResult><Credentials><AccessKeyId>{ACCESS_KEY_ID}</AccessKeyId>"
    f"<SecretAccessKey>{SECRET_KEY}</SecretAccessKey><SessionToken>{SESSION_TOKEN}</SessionToken>"
    "</Credentials></AssumeRoleResult>'",
    f'{{"Credentials": {{"AccessKeyId": "{ACCESS_KEY_ID}", "SecretAccessKey": "{SECRET_KEY}", '
    f'"SessionToken": "{SESSION_TOKEN}"}}}}',
    # botocore.auth: the canonical request
    f"CanonicalRequest:\nPOST\n/\n\nhost:sts.amazonaws.com\nx-amz-security-token:{SESSION_TOKEN}\n",
    # a presigned URL (botocore.auth, urllib3.connectionpool)
    "https://s3/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIATBZHZWQAXT2OHI4S%2F20261129"
    "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=FQoGZXIvYXdzEBYaDf84Q7oh%2BPe0u1Mn9kD%2FwRnK"
    "OgoTZJJiC%3D%3D&X-Amz-Signature=0a1b",
    # slack_sdk and the kubernetes client (http.client's debuglevel prints raw headers)
    f"Sending a request - url: https://slack.com/api/chat.postMessage, headers: {{'Authorization': "
    f"'Bearer {BOT_TOKEN}'}}",
    f"send: b'GET /version HTTP/1.1\\r\\nAuthorization: Bearer {EKS_TOKEN}\\r\\n'",
    f"apps.connections.open with token={APP_TOKEN}",
    f"authorization: Bearer {CLUSTER_TOKEN}",
    f"AssumeRoleWithWebIdentity body: Action=AssumeRoleWithWebIdentity&WebIdentityToken={JWT}&Version=1",
    f"in-cluster token {JWT}",
]
ALL_SECRETS = [SESSION_TOKEN, SECRET_KEY, ACCESS_KEY_ID, EKS_TOKEN, BOT_TOKEN, APP_TOKEN, CLUSTER_TOKEN, JWT]


def _leaks(text: str) -> list[str]:
    encoded = [value.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D") for value in ALL_SECRETS]
    return [value for value in ALL_SECRETS + encoded if value in text]


@pytest.mark.parametrize("line", LIBRARY_LINES, ids=range(len(LIBRARY_LINES)))
def test_secret_shapes_are_masked_without_knowing_the_values(line: str) -> None:
    clean = Redactor().redact(line)
    assert _leaks(clean) == [], clean
    assert MASK in clean


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://chatops:s3cr3t-Pass@db:5432/chatops", "s3cr3t-Pass"),
        ("postgresql+psycopg://chatops@db/chatops?password=s3cr3t-Pass&sslmode=require", "s3cr3t-Pass"),
        ("mysql+pymysql://chatops:p%40ss%2Fw0rd!@db/chatops", "p%40ss%2Fw0rd!"),
        ("mysql://chatops@db/chatops?ssl=1&passwd=s3cr3t-Pass", "s3cr3t-Pass"),
    ],
)
def test_passwords_in_urls_are_masked_in_any_form(url: str, password: str) -> None:
    clean = Redactor().redact(f"cannot connect to {url}: refused")
    assert password not in clean and MASK in clean
    assert "db" in clean and "chatops" in clean


def test_known_values_are_masked_plain_and_url_encoded_and_short_ones_are_ignored() -> None:
    redactor = Redactor(["pa ss/w+rd@1", None, "", "abc"])
    text = "pa ss/w+rd@1 | pa%20ss%2Fw%2Brd%401 | pa+ss%2Fw%2Brd%401 | pa%20ss/w%2Brd%401 | abc"
    assert redactor.redact(text) == "*** | *** | *** | *** | abc"


def test_rotating_values_are_kept_only_while_recent() -> None:
    redactor = Redactor(["static-secret-1"])
    redactor.add("rotating-secret-0", rotating=True)
    for number in range(1, redaction.ROTATING_KEPT + 1):
        redactor.add(f"rotating-secret-{number}", rotating=True)
    assert redactor.redact("rotating-secret-0") == "rotating-secret-0"  # expired long ago: let go
    assert redactor.redact(f"rotating-secret-{redaction.ROTATING_KEPT}") == MASK
    assert redactor.redact("static-secret-1") == MASK  # never let go


@pytest.mark.parametrize(
    "text",
    [
        "submitted hello-x7k2p on dev (argo) by alice",
        "Bearer tokens are renewed before they expire",
        'password authentication failed for user "chatops"',
        "https://argo.example.com:2746/workflows/argo/hello-x7k2p?tab=logs",
        "s3://argo-logs/argo/2026/11/29/hello-x7k2p/hello-x7k2p-main-123",
        "the token variable CHATOPS_PROD_TOKEN (auth.token_env) is not set",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor(["unrelated-secret"]).redact(text) == text


def test_redacting_twice_changes_nothing_more() -> None:
    redactor = Redactor([SESSION_TOKEN])
    once = [redactor.redact(line) for line in LIBRARY_LINES]
    assert [redactor.redact(line) for line in once] == once
    assert "b'***'" in once[0]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing to a string through a handler carrying the filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter(Redactor([CLUSTER_TOKEN])))
    logger = logging.getLogger("tests.redaction.captured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_the_filter_masks_arguments_exceptions_and_stacks(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.debug("headers: %s", {"Authorization": f"Bearer {CLUSTER_TOKEN}"})
    logger.info("token %s for %r", CLUSTER_TOKEN, "dev")
    try:
        raise RuntimeError(f"request with {CLUSTER_TOKEN} failed")
    except RuntimeError:
        logger.exception("call failed")
    logger.warning("where: %s", CLUSTER_TOKEN, stack_info=True)
    logger.error("broken %s %s", CLUSTER_TOKEN)  # too few arguments: logging would print them raw
    output = stream.getvalue()
    assert CLUSTER_TOKEN not in output, output
    assert "Traceback" in output and "RuntimeError: request with *** failed" in output
    assert "token *** for 'dev'" in output
    assert "could not be formatted" in output


def test_install_covers_the_root_handler_warnings_and_crashed_threads() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = (sys.excepthook, threading.excepthook, root.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    redactor = Redactor([CLUSTER_TOKEN])
    try:
        redaction.install(redactor=redactor)
        redaction.install(redactor=redactor)  # twice: still one filter on the handler
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logging.getLogger("kubernetes.client.rest").debug("Authorization: Bearer %s", CLUSTER_TOKEN)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn(f"insecure request with {CLUSTER_TOKEN}", UserWarning, stacklevel=1)

        def crash() -> None:
            raise ValueError(f"bad token {CLUSTER_TOKEN}")

        thread = threading.Thread(target=crash, name="crasher")
        thread.start()
        thread.join(timeout=10)
        sys.excepthook(KeyError, KeyError(CLUSTER_TOKEN), None)
    finally:
        logging.captureWarnings(False)
        sys.excepthook, threading.excepthook, level = saved
        root.setLevel(level)
        root.removeHandler(handler)
    output = stream.getvalue()
    assert CLUSTER_TOKEN not in output, output
    assert "insecure request with ***" in output
    assert "thread crasher crashed: ValueError" in output and "bad token ***" in output
    assert "uncaught KeyError" in output
