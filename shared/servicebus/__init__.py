"""The Service Bus adapter: the wire format, settlement, the worker, publishing, retry copies, dead letters and the
management API (see docs/architecture.md)."""
