"""The app-setting names agree in shared/settings.py, local.settings.json.example and the Bicep under infra/.

Bicep is read as text, without a Bicep parser (the project venv has none, and this test stays
dependency-free): every app setting lives inside a block that starts with a ``// app-settings:begin``
line and ends with ``// app-settings:end``, one ``Name: value`` per line. The names are the keys at the
first brace level of each block, matched by ``BICEP_KEY`` after comments are stripped; nested objects
and string contents are ignored.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.settings import SETTINGS

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
LOCAL_SETTINGS_TEMPLATE = REPO_ROOT / "local.settings.json.example"

BEGIN_MARKER = "// app-settings:begin"
END_MARKER = "// app-settings:end"
# A Bicep object key at the start of a line: an identifier or a single-quoted name, then a colon.
BICEP_KEY = re.compile(r"^\s*(?:([A-Za-z_][A-Za-z0-9_]*)|'([^']+)')\s*:")
BICEP_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")

# Settings Bicep sets that the code does not read: the platform and the SDKs read them. Each needs a
# reason; a name here must really be in the Bicep, and must not also be declared in shared/settings.py.
PLATFORM_ONLY_SETTINGS = frozenset(
    {
        # Identity-based host storage with a user-assigned identity: which credential, which identity.
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        # Identity-based Service Bus trigger connection with a user-assigned identity.
        "ServiceBusConnection__credential",
        "ServiceBusConnection__clientId",
        # azure-identity's DefaultAzureCredential/ManagedIdentityCredential pick the user-assigned
        # identity by this id (Key Vault, Blob cache, scheduling retry copies on Service Bus).
        "AZURE_CLIENT_ID",
        # Linux Consumption plan only (Flex Consumption rejects them): host version, and the deployment
        # package read from blob storage with the user-assigned identity.
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID",
    }
)


def extract_marked_setting_names(bicep_text: str) -> set[str]:
    """Return the first-level object keys inside every app-settings block of one Bicep source text."""
    names: set[str] = set()
    inside = False
    depth = 0
    for raw_line in bicep_text.splitlines():
        stripped = raw_line.strip()
        if stripped == BEGIN_MARKER:
            inside, depth = True, 0
            continue
        if stripped == END_MARKER:
            inside = False
            continue
        if not inside:
            continue
        code = BICEP_STRING.sub("''", raw_line).split("//", 1)[0]  # blank strings first: 'https://…'
        if depth == 1 and code.strip():
            match = BICEP_KEY.match(raw_line)
            if match:
                names.add(match.group(1) or match.group(2))
        depth += code.count("{") - code.count("}")
    return names


def bicep_setting_names() -> set[str]:
    """Return the app-setting names set anywhere under infra/."""
    names: set[str] = set()
    for path in sorted(INFRA.rglob("*.bicep")):
        names |= extract_marked_setting_names(path.read_text(encoding="utf-8"))
    return names


def azure_setting_names() -> set[str]:
    """Return the declared settings that belong in Azure (everything not marked local_only)."""
    return {spec.name for spec in SETTINGS if not spec.local_only}


def local_only_setting_names() -> set[str]:
    """Return the declared settings for local runs only."""
    return {spec.name for spec in SETTINGS if spec.local_only}


def test_extractor_reads_first_level_keys_of_marked_blocks_only() -> None:
    """The Bicep extractor takes first-level keys inside the markers and ignores nesting, comments and strings."""
    text = "\n".join(
        [
            "var before = {",
            "  Outside: 'x'",
            "}",
            "// app-settings:begin",
            "var settings = {",
            "  // Commented: 'no'",
            "  First__name: 'a: b'",
            "  'quoted-name': 'c'",
            "  Nested: {",
            "    Inner: 'no'",
            "  }",
            "  Last: cond ? 'x { y' : 'z'",
            "}",
            "// app-settings:end",
            "var after = {",
            "  AlsoOutside: 'x'",
            "}",
        ]
    )

    assert extract_marked_setting_names(text) == {"First__name", "quoted-name", "Nested", "Last"}


def test_bicep_has_app_settings_blocks() -> None:
    """The Bicep under infra/ has app-settings blocks with balanced markers."""
    texts = [path.read_text(encoding="utf-8") for path in INFRA.rglob("*.bicep")]
    begins = sum(text.count(BEGIN_MARKER) for text in texts)
    ends = sum(text.count(END_MARKER) for text in texts)

    assert begins >= 1
    assert begins == ends


def test_bicep_sets_every_setting_the_code_reads_in_azure() -> None:
    """Every declared setting that is not local_only (host-only ones included) is set by the Bicep."""
    missing = azure_setting_names() - bicep_setting_names()

    assert not missing, f"add to the app settings in infra/main.bicep: {sorted(missing)}"


def test_bicep_sets_no_local_only_setting() -> None:
    """Connection strings, local secrets and the file-cache folder never reach Azure app settings."""
    leaked = local_only_setting_names() & bicep_setting_names()

    assert not leaked, f"local_only settings must not be set in Azure: {sorted(leaked)}"


def test_bicep_sets_nothing_undeclared_except_platform_settings() -> None:
    """A name the Bicep sets is either declared in shared/settings.py or on the platform allow-list."""
    declared = {spec.name for spec in SETTINGS}
    unexplained = bicep_setting_names() - declared - PLATFORM_ONLY_SETTINGS

    assert not unexplained, f"declare in shared/settings.py or allow-list with a reason: {sorted(unexplained)}"


def test_platform_allow_list_is_current() -> None:
    """Every allow-listed platform setting is really set by the Bicep and is not also declared in settings.py."""
    declared = {spec.name for spec in SETTINGS}

    assert bicep_setting_names() >= PLATFORM_ONLY_SETTINGS
    assert not PLATFORM_ONLY_SETTINGS & declared


def test_local_settings_template_has_exactly_the_declared_settings() -> None:
    """local.settings.json.example lists every declared setting, local-only ones included, and nothing else."""
    values = json.loads(LOCAL_SETTINGS_TEMPLATE.read_text(encoding="utf-8"))["Values"]

    assert set(values) == {spec.name for spec in SETTINGS}


def test_local_settings_template_is_in_functions_format() -> None:
    """The template is an unencrypted Functions local.settings.json whose values are all strings."""
    document = json.loads(LOCAL_SETTINGS_TEMPLATE.read_text(encoding="utf-8"))

    assert document["IsEncrypted"] is False
    assert all(isinstance(value, str) for value in document["Values"].values())


def test_local_settings_template_uses_declared_defaults_or_local_endpoints() -> None:
    """Template values are the declared defaults, except settings that point at the local stand-ins."""
    values = json.loads(LOCAL_SETTINGS_TEMPLATE.read_text(encoding="utf-8"))["Values"]
    pointed_at_local_stand_ins = {
        "AzureWebJobsStorage__accountName",
        "ServiceBusConnection__fullyQualifiedNamespace",
        "PARTNER_CENTER_BASE_URL",
        "PARTNER_CENTER_TOKEN_URL",
        "PARTNER_TENANT_ID",
        "PARTNER_CENTER_CLIENT_ID",
        "PARTNER_CENTER_CLIENT_SECRET",
        "PARTNER_CENTER_REFRESH_TOKEN",
    }

    differing = {
        spec.name
        for spec in SETTINGS
        if spec.name not in pointed_at_local_stand_ins and values[spec.name] != spec.default
    }

    assert not differing, f"template values differ from the declared defaults: {sorted(differing)}"
    assert values["PARTNER_CENTER_BASE_URL"].startswith("http://127.0.0.1:")
