"""Per-user permissions in Argo CD's policy language (CSV `p`/`g` lines, casbin, deny wins).

`policy` parses and validates policy text (pure), `enforcer` decides (the only casbin
importer), `source` loads builtin + config + file policies and reloads the file when it
changes. See docs/rbac.md.
"""

from __future__ import annotations
