"""The Service Bus emulator's own suite, driven by the real azure-servicebus SDK."""
