"""Keep credentials out of log output: `redact(text)` and a `logging.Filter` that applies it.

Two kinds of secret are replaced by `***`:
- known values, registered when the bot learns them (`register(...)`: the Slack tokens, the
  database password, cluster tokens and AWS keys at start; assumed-role credentials each
  time STS hands out new ones), in their plain and URL-encoded forms;
- secret-shaped text, whoever printed it: Slack tokens (`xoxb-…`, `xapp-…`), EKS tokens
  (`k8s-aws-v1.…`), `Bearer`/`Basic` credentials, the access key id in a SigV4
  `Credential=`, `X-Amz-Security-Token`, the credential fields of STS answers
  (`<AccessKeyId>`, `<SecretAccessKey>`, `SessionToken`, …) in XML, JSON or Python reprs, passwords in URLs
  (`user:PASS@`, `?password=PASS`) and JSON Web Tokens (service-account and IRSA tokens).

`install()` puts the filter on the root logger's handlers (where every propagated record
passes, whatever logger made it), routes `warnings` and uncaught exceptions through
logging, and is what `chatops run` calls. Only the standard library is used here.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable
from types import TracebackType

MASK = "***"
#: Shorter values are not registered: replacing them everywhere would garble the logs.
MIN_SECRET_LENGTH = 6
#: Rotating credentials (assumed-role keys) kept for redaction; older ones have expired.
ROTATING_KEPT = 64

_KEYS = (
    r"x-amz-security-token|accesskeyid|access_key_id|secretaccesskey|secret_access_key|sessiontoken|session_token"
    r"|securitytoken|security_token|webidentitytoken|password|passwd|sslpassword|client_secret"
)
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Slack: bot, user, app-level, config and refresh tokens
    (re.compile(r"\b(xox[a-z]|xapp|xoxe\.xox[a-z]|xoxe)-[0-9A-Za-z][0-9A-Za-z-]*"), rf"\1-{MASK}"),
    # EKS: k8s-aws-v1. + base64url of a presigned STS URL
    (re.compile(r"\bk8s-aws-v1\.[A-Za-z0-9_=-]+"), f"k8s-aws-v1.{MASK}"),
    # an Authorization header's credentials (a word such as "Bearer tokens" stays)
    (
        re.compile(r"\b(Bearer|Basic)(\s+)(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"),
        rf"\1\2{MASK}",
    ),
    # SigV4: the access key id in an Authorization header or a presigned URL
    (re.compile(r"(?i)\b((?:X-Amz-)?Credential=)[A-Z0-9_.-]+(?=/|%2F)"), rf"\1{MASK}"),
    # the same fields in XML answers: <SessionToken>…</SessionToken>
    (
        re.compile(
            r"(?i)(<(AccessKeyId|SecretAccessKey|SessionToken|SecurityToken|WebIdentityToken|Password)>)[^<]*(</)"
        ),
        rf"\1{MASK}\3",
    ),
    # key: value, key=value, 'key': b'value', "key": "value" for credential-named keys
    (
        re.compile(rf"(?i)\b({_KEYS})((?>['\"]?\s*[:=]\s*b?['\"]?))(?![*]{{3}})[^\s'\"&,;}}<>]+"),
        rf"\1\2{MASK}",
    ),
    # a URL's userinfo password: scheme://user:PASS@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)(?![*]{3}@)[^@\s/]+@"), rf"\1{MASK}@"),
    # JSON Web Tokens: Kubernetes service-account and IRSA web-identity tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), f"eyJ{MASK}"),
)


def forms(value: str) -> set[str]:
    """The ways a secret appears in text: as is and URL-encoded (query and path style)."""
    return {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
    }


class Redactor:
    """Known secret values plus the secret shapes; `redact(text)` masks both. Thread-safe."""

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._static: set[str] = set()
        self._rotating: deque[str] = deque(maxlen=ROTATING_KEPT)
        self._pattern: re.Pattern[str] | None = None
        self.add(*values)

    def add(self, *values: str | None, rotating: bool = False) -> None:
        """Redact these values from now on (None, empty and short values are ignored).

        `rotating=True` is for credentials that are replaced regularly: only the latest
        `ROTATING_KEPT` of them are kept, so a bot running for weeks does not grow without end.
        """
        fresh = {v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SECRET_LENGTH}
        if not fresh:
            return
        with self._lock:
            for value in fresh:
                if value in self._static or value in self._rotating:
                    continue
                if rotating:
                    self._rotating.append(value)
                else:
                    self._static.add(value)
            every = {form for value in (*self._static, *self._rotating) for form in forms(value)}
            ordered = sorted((f for f in every if len(f) >= MIN_SECRET_LENGTH), key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        """`text` with every known value and every secret-shaped string replaced by `***`."""
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
        return text


#: The process-wide set the filter uses; adapters register what they obtain at run time.
SECRETS = Redactor()


def register(*values: str | None, rotating: bool = False) -> None:
    """Add values to the process-wide `SECRETS` (see `Redactor.add`)."""
    SECRETS.add(*values, rotating=rotating)


def redact(text: str) -> str:
    """`text` with the process-wide known secrets and all secret shapes masked."""
    return SECRETS.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, exception text and stack so no secret reaches a handler."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or SECRETS
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self._redactor.redact
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging would print its raw arguments
            message = f"{record.msg!s} (log arguments could not be formatted)"
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None, *, redactor: Redactor | None = None) -> RedactingFilter:
    """Filter every handler of `logger` (default: root); send warnings and crashes through logging.

    Call after the handlers exist (`logging.basicConfig`). Idempotent per handler.
    """
    target = logger or logging.getLogger()
    installed = RedactingFilter(redactor)
    for handler in target.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(installed)
    logging.captureWarnings(True)
    crash_log = logging.getLogger("bot.crash")

    def on_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        crash_log.critical("uncaught %s", kind.__name__, exc_info=(kind, value, tb))

    def on_thread_crash(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "?"
        crash_log.error(
            "thread %s crashed: %s",
            name,
            args.exc_type.__name__,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = on_uncaught
    threading.excepthook = on_thread_crash
    return installed
