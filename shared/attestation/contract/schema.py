"""Print the event contract's JSON Schema, as committed in docs/event-schema.v1.json.

Regenerate the committed file after changing ``shared/attestation/contract/__init__.py``::

    .venv/bin/python -m shared.attestation.contract.schema > docs/event-schema.v1.json
"""

from __future__ import annotations

import json
import sys

from shared.attestation.contract import event_json_schema


def render() -> str:
    """The schema as committed: indent 2, sorted keys, one trailing newline."""
    return json.dumps(event_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
