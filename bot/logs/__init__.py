"""Archived step logs in S3: where Argo's `archiveLogs` put them and how the bot links them.

`archive` owns the S3 client (boto3): a reachability check for `chatops check --connect` and
presigned GET links.
"""

from __future__ import annotations
