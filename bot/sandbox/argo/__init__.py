"""Argo Workflows, Argo CD and Argo Rollouts controllers for the Kubernetes stand-in.

They talk to a `KubeApiServer` only through the official `kubernetes` client (list + watch +
`/status` patches), as the real controllers do, so they never depend on the stand-in's
internals. Outcomes are scripted (Python API or documented magic inputs) and time runs
`time_scale` times faster. See docs/sandbox.md.
"""

from __future__ import annotations

from bot.sandbox.argo.applications import ApplicationController, PastSync
from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.argo.deploying import Destination
from bot.sandbox.argo.keyformat import render_key
from bot.sandbox.argo.rollouts import RolloutController
from bot.sandbox.argo.scripts import StepScript
from bot.sandbox.argo.workflows import ArtifactRepository, WorkflowController

__all__ = [
    "AppResource",
    "ApplicationController",
    "ArtifactRepository",
    "Destination",
    "PastSync",
    "RolloutController",
    "StepScript",
    "WorkflowController",
    "render_key",
]
