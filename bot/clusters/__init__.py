"""Clusters the bot talks to: how to reach and authenticate against each Kubernetes API.

`eks` makes EKS bearer tokens (STS AssumeRole + a presigned GetCallerIdentity) for clusters
reached through AWS IAM; the registry of configured clusters and their API clients live
beside it.
"""

from __future__ import annotations
