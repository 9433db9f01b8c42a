"""Print an event contract's JSON Schema, as committed in docs/event-schema.v1.json and docs/event-schema.v2.json.

Regenerate the committed files after changing ``shared/attestation/contract/__init__.py`` (v1) or
``shared/attestation/contract/v2.py`` (v2)::

    .venv/bin/python -m shared.attestation.contract.schema > docs/event-schema.v1.json
    .venv/bin/python -m shared.attestation.contract.schema v2 > docs/event-schema.v2.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from shared.attestation.contract import event_json_schema


def _canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> str:
    """The v1 schema as committed: indent 2, sorted keys, one trailing newline."""
    return _canonical(event_json_schema())


def render_v2() -> str:
    """The v2 schema as committed, in the same layout."""
    from shared.attestation.contract.v2 import event_v2_json_schema

    return _canonical(event_v2_json_schema())


def main() -> None:
    sys.stdout.write(render_v2() if sys.argv[1:] == ["v2"] else render())


if __name__ == "__main__":
    main()
