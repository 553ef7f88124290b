"""Clusters the bot talks to: how to reach and authenticate against each Kubernetes API.

- `registry`: `ClusterRegistry` (name -> `ClusterSpec`, one cached `ApiClient` per cluster, `ping`);
- `clients`: builds an `ApiClient` per auth kind (kubeconfig, in-cluster, token, EKS);
- `eks`: EKS bearer tokens (STS AssumeRole + a presigned GetCallerIdentity);
- `probes`: reachability and read checks in plain words, for `chatops check --connect`.
"""

from __future__ import annotations
