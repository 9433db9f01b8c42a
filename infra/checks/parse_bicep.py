"""Parse every Bicep file under a folder and cross-check module wiring, without the Bicep CLI.

There is no Bicep compiler in CI (``az bicep`` downloads a binary), so this is the closest cheap stand-in:

1. every ``*.bicep`` file must parse with pycep-parser, the Bicep parser checkov itself uses;
2. every local ``module`` must point at an existing file, pass only parameters that module declares,
   and pass every parameter that has no default;
3. every ``<module>.outputs.<name>`` reference must name an output the module declares.

Usage: ``python infra/checks/parse_bicep.py infra``; exits 1 on the first class of problem found.
pycep-parser follows Bicep with a lag: a file that uses syntax it does not know yet (for example the
``@onlyIfNotExists()`` decorator) fails here even though the Bicep CLI would accept it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from lark.exceptions import LarkError
from pycep import BicepParser

OUTPUT_REFERENCE = re.compile(r"\b([A-Za-z_]\w*)\.outputs\.([A-Za-z_]\w*)")


def _unwrap(config: Any) -> dict[str, Any]:
    """Return a module's body, looking through ``if (...)`` and ``for`` wrappers."""
    while isinstance(config, dict) and "config" in config and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config if isinstance(config, dict) else {}


def _check_modules(path: Path, parsed: dict[str, Any], parsed_by_path: dict[Path, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    module_outputs: dict[str, set[str]] = {}
    for symbol, module in (parsed.get("modules") or {}).items():
        if module.get("type") != "local":
            continue
        target = (path.parent / module["detail"]["path"]).resolve()
        if target not in parsed_by_path:
            problems.append(f"{path}: module {symbol} points at {module['detail']['path']}, which is not a parsed file")
            continue
        declared = parsed_by_path[target].get("parameters") or {}
        passed = set((_unwrap(module.get("config")).get("params") or {}).keys())
        for name in sorted(passed - set(declared)):
            problems.append(f"{path}: module {symbol} passes {name}, which {target.name} does not declare")
        required = {name for name, spec in declared.items() if spec.get("default") is None}
        for name in sorted(required - passed):
            problems.append(f"{path}: module {symbol} does not pass required parameter {name} of {target.name}")
        module_outputs[symbol] = set((parsed_by_path[target].get("outputs") or {}).keys())

    text = path.read_text(encoding="utf-8")
    for match in OUTPUT_REFERENCE.finditer(text):
        symbol, output = match.groups()
        if symbol in module_outputs and output not in module_outputs[symbol]:
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{path}:{line}: module {symbol} has no output {output}")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "infra")
    files = sorted(root.rglob("*.bicep"))
    if not files:
        print(f"parse_bicep: no .bicep files under {root}", file=sys.stderr)
        return 1

    parser = BicepParser()
    parsed_by_path: dict[Path, dict[str, Any]] = {}
    problems: list[str] = []
    for file in files:
        try:
            parsed_by_path[file.resolve()] = parser.parse(file_path=file)
        except LarkError as exc:
            problems.append(f"{file}: does not parse: {str(exc).strip().splitlines()[0]}")
    if not problems:
        for file in files:
            problems.extend(_check_modules(file, parsed_by_path[file.resolve()], parsed_by_path))

    for problem in problems:
        print(f"parse_bicep: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"parse_bicep: {len(files)} Bicep files parsed, module parameters and outputs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
