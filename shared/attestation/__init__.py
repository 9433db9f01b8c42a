"""The core: the use case, its ports and values, outcomes and dead-letter reasons, the error tree, the event
contracts. No SDK is imported here (see docs/architecture.md)."""
