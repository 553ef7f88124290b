"""The verbs people type, one record each, and the grammar that reads them.

`registry` (the `Verb` record and the help and docs it yields), `values` (the checks of every
value a person types) and `grammar` (text -> verb and arguments) are pure. The `*_verbs`
modules, one per area, hold the records and their use cases; `verbs.build_registry` collects
them. Carrying a command out is `bot.actions.pipeline`'s job.
"""

from __future__ import annotations
