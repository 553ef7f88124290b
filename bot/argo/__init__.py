"""Argo on the Kubernetes API: the adapter that owns every `kubernetes` client call about Argo.

Modules, used qualified (`from bot.argo import workflows` then `workflows.submit_workflow`):
`errors` (the only place `ApiException` is caught), `parameters` (pure checks of `-p`
values), `workflows` (templates, submit, stop/terminate), `watching` (list-then-watch).
Nothing is imported here, so importing one module never drags in the others.
"""

from __future__ import annotations
