"""Slack ChatOps bot for Argo Workflows and Argo CD on EKS."""

from __future__ import annotations

__version__ = "0.1.0"
