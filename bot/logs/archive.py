"""The S3 adapter for archived logs: check the bucket answers, presign links to objects.

`LogArchive(settings.logs)` wraps one boto3 S3 client, signing SigV4 (with a custom
endpoint botocore would otherwise presign SigV2, which modern regions refuse) and using
path-style addressing when an endpoint override is set (the sandbox). Every botocore error
becomes `bot.errors.ArchiveError` naming the bucket and what to check. Left out: the key
layout of Argo's `keyFormat` and reading log tails; they belong beside the log features
that use them. Callers: `chatops check --connect`, log links.
"""

from __future__ import annotations

from collections.abc import Callable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from bot import redaction
from bot.config import LogsSettings
from bot.errors import ArchiveError

_MAX_DETAIL = 200
LOG_CONTENT_TYPE = "text/plain; charset=utf-8"  # a log link opens as text in the browser


class LogArchive:
    """The logs bucket, through one S3 client built from `LogsSettings`."""

    def __init__(
        self, settings: LogsSettings, *, session_factory: Callable[[], boto3.Session] = boto3.Session
    ) -> None:
        self._settings = settings
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=5,
            read_timeout=10,
        )
        self._s3 = session_factory().client(
            "s3", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config
        )

    @property
    def bucket(self) -> str:
        return self._settings.bucket

    def check_bucket(self) -> str:
        """HEAD the bucket; returns a short description, raises `ArchiveError` saying what to check."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise ArchiveError(
                f"s3://{self.bucket}: no AWS credentials were found; give the pod an IAM role (IRSA) "
                "or set the usual AWS_* variables"
            ) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            if code in ("404", "NoSuchBucket", "NotFound"):
                hint = "the bucket does not exist; check logs.bucket and logs.region"
            elif code in ("403", "AccessDenied", "Forbidden"):
                hint = "access denied; check the bot's IAM policy allows s3:ListBucket and s3:GetObject"
            else:
                hint = f"S3 answered {code}"
            raise ArchiveError(f"s3://{self.bucket}: {hint}") from None
        except BotoCoreError as exc:
            raise ArchiveError(f"s3://{self.bucket}: S3 did not answer ({_short(exc)})") from exc
        return f"bucket s3://{self.bucket} is reachable ({self._settings.region})"

    def presign_get(self, key: str, *, expires: int | None = None) -> str:
        """A presigned GET link to `key`, valid `expires` seconds (default: the configured expiry)."""
        seconds = self._settings.presign_expiry_seconds if expires is None else expires
        try:
            # shown as text in the browser tab, not downloaded as an opaque file
            params = {"Bucket": self.bucket, "Key": key, "ResponseContentType": LOG_CONTENT_TYPE}
            url: str = self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        except (BotoCoreError, ClientError) as exc:
            raise ArchiveError(f"s3://{self.bucket}: cannot presign a link ({_short(exc)})") from exc
        return url

    def read_tail(self, key: str, *, lines: int, max_bytes: int = 256 * 1024) -> str:
        """The last `lines` lines of the object at `key`, reading at most `max_bytes` from its end.

        A heavy batch can write gigabytes of log; only the end is fetched (a Range request), and
        a first line cut by the range is dropped.
        """
        try:
            answer = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{max_bytes}")
            data: bytes = answer["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            raise ArchiveError(f"s3://{self.bucket}/{key}: S3 answered {code}") from exc
        except BotoCoreError as exc:
            raise ArchiveError(f"s3://{self.bucket}/{key}: S3 did not answer ({_short(exc)})") from exc
        text = data.decode("utf-8", errors="replace")
        all_lines = text.splitlines()
        if len(data) >= max_bytes and all_lines:
            all_lines = all_lines[1:]
        return "\n".join(all_lines[-lines:])


def _short(value: object) -> str:
    text = redaction.redact(" ".join(str(value).split()))
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
