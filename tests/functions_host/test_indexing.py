"""The indexing contract, as the real worker reports it to the host (FunctionsMetadataRequest)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.functions_host.host import protos
from tests.functions_host.running import QUEUE_TRIGGER, RECONCILE_TIMER, TIMER, RunningApp, template_app_settings
from tests.unit.test_settings_agree import bicep_setting_names

pytestmark = pytest.mark.integration

SETTING_REFERENCE = re.compile(r"%([^%]+)%")


def _bindings(function: Any) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in function.raw_bindings]


def test_worker_indexes_and_loads_exactly_the_three_functions(running_app: RunningApp) -> None:
    """Init, metadata and every load succeed, and the worker reports the queue trigger and the two timers only."""
    success = protos.StatusResult.Success
    assert running_app.init_response.result.status == success, running_app.init_response.result.exception.message
    assert running_app.metadata_response.result.status == success
    assert not running_app.metadata_response.use_default_metadata_indexing
    assert set(running_app.functions) == {QUEUE_TRIGGER, TIMER, RECONCILE_TIMER}
    assert {name: r.result.status for name, r in running_app.load_responses.items()} == dict.fromkeys(
        running_app.functions, success
    )


def test_queue_trigger_settles_itself_through_the_sdk_type_binding(running_app: RunningApp) -> None:
    """The queue trigger: one serviceBusTrigger binding, autoCompleteMessages false, deferred binding on."""
    assert _bindings(running_app.functions[QUEUE_TRIGGER]) == [
        {
            "direction": "IN",
            "type": "serviceBusTrigger",
            "name": "message",
            "connection": "ServiceBusConnection",
            "queueName": "%SERVICEBUS_QUEUE_NAME%",
            "autoCompleteMessages": False,
            "properties": {"SupportsDeferredBinding": True},
        }
    ]


def test_timer_reads_its_schedule_from_a_setting_and_uses_the_monitor(running_app: RunningApp) -> None:
    """The timer: one timerTrigger binding, schedule from an app setting, singleton monitor, no run on start."""
    assert _bindings(running_app.functions[TIMER]) == [
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "%METADATA_REFRESH_SCHEDULE%",
            "runOnStartup": False,
            "useMonitor": True,
        }
    ]


def test_reconciliation_timer_reads_its_schedule_from_a_setting_and_uses_the_monitor(running_app: RunningApp) -> None:
    """The reconciliation timer: one timerTrigger binding, RECONCILE_SCHEDULE, singleton monitor, no run on start."""
    assert _bindings(running_app.functions[RECONCILE_TIMER]) == [
        {
            "direction": "IN",
            "type": "timerTrigger",
            "name": "timer",
            "schedule": "%RECONCILE_SCHEDULE%",
            "runOnStartup": False,
            "useMonitor": True,
        }
    ]


def test_every_setting_a_binding_names_is_set_locally_and_in_azure(running_app: RunningApp) -> None:
    """Each %SETTING% the host must resolve is in local.settings.json.example and in the Bicep app settings;
    the Service Bus connection is set as a namespace (identity) in both."""
    bindings = [b for f in running_app.functions.values() for b in _bindings(f)]
    referenced = {name for b in bindings for value in b.values() if isinstance(value, str)
                  for name in SETTING_REFERENCE.findall(value)}  # fmt: skip
    connections = {f"{b['connection']}__fullyQualifiedNamespace" for b in bindings if "connection" in b}
    assert referenced == {"SERVICEBUS_QUEUE_NAME", "METADATA_REFRESH_SCHEDULE", "RECONCILE_SCHEDULE"}
    assert connections == {"ServiceBusConnection__fullyQualifiedNamespace"}
    needed = referenced | connections
    assert needed - set(template_app_settings()) == set()
    assert needed - bicep_setting_names() == set()
