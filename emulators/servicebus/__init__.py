"""A local Azure Service Bus emulator (queues only) for the azure-servicebus SDK, on python-qpid-proton.

For local runs and tests, never production. See ``docs/servicebus-emulator.md``.
"""

from .config import ConfigError, EmulatorConfig, QueueProperties, load_config, load_default_config
from .server import ServiceBusEmulator
from .snapshots import MessageSnapshot, MessageState, QueueDepths

__all__ = [
    "ConfigError",
    "EmulatorConfig",
    "MessageSnapshot",
    "MessageState",
    "QueueDepths",
    "QueueProperties",
    "ServiceBusEmulator",
    "load_config",
    "load_default_config",
]
