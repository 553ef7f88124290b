"""Commands people type: the grammar (`grammar.parse_command`) and the command table (`catalog`).

Both are pure. The handlers that carry commands out live elsewhere.
"""

from __future__ import annotations
