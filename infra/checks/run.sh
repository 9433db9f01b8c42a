#!/usr/bin/env bash
# Infrastructure checks, run by the test command:
#   1. parse every Bicep file under infra/ and cross-check module parameters/outputs (parse_bicep.py);
#   2. checkov (pinned) over infra/ with zero failed checks allowed; every skip is justified inline,
#      next to its resource, as `// checkov:skip=<id>: <reason>`.
# checkov and pycep-parser live in their own venv (.tools/checkov-venv, git-ignored), not the project's:
# checkov pins many libraries that conflict with the app's. The venv is rebuilt when requirements.txt
# changes. Nothing here talks to Azure or to Prisma Cloud.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

venv=.tools/checkov-venv
requirements=infra/checks/requirements.txt
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"

if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

if [[ ! -f "$stamp" ]]; then
    echo "infra checks: installing checkov into $venv (first run only)"
    rm -rf "$venv"
    mkdir -p .tools
    "$PYTHON" -m venv "$venv"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" \
        >"$venv/pip-install.log" 2>&1; then
        cat "$venv/pip-install.log" >&2
        echo "infra checks: pip install failed (log above)" >&2
        exit 1
    fi
    touch "$stamp"
fi

"$venv/bin/python" infra/checks/parse_bicep.py infra

# BC_SKIP_MAPPING / --skip-download: no calls to Prisma Cloud for guidelines or policy metadata.
# checkov exits non-zero when any check fails; skipped checks are listed with their reasons.
BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" \
    --directory infra \
    --framework bicep \
    --skip-download \
    --compact \
    --quiet
echo "infra checks: passed"
