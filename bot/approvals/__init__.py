"""Button-approved actions (rollbacks first): a pure state machine and the service that stores it.

`flow` decides who may move a request where; `service.ApprovalService` keeps requests in the
database and makes the decision atomic. The approval card lives in `bot.render.approvals`.
"""

from __future__ import annotations
