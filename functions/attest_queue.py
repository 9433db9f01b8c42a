"""Queue trigger: one event message → one step of its flow (contract v1: the attestation; v2: the enhanced
attestation's next step), settled explicitly.

``auto_complete_messages=False`` with the SDK-type binding: the function itself completes, dead-letters
or schedules a retry copy of each message (``shared.servicebus.settlement`` decides which). A failure to settle
raises, so the host abandons the message and Service Bus redelivers it: never lost.
"""

from __future__ import annotations

import azure.functions as func
import azurefunctions.extensions.bindings.servicebus as servicebus

from functions.runtime import runtime

bp = func.Blueprint()


@bp.function_name("attest_signed_agreement")
@bp.service_bus_queue_trigger(
    arg_name="message",
    queue_name="%SERVICEBUS_QUEUE_NAME%",
    connection="ServiceBusConnection",
    auto_complete_messages=False,
)
async def attest_signed_agreement(
    message: servicebus.ServiceBusReceivedMessage, message_actions: servicebus.ServiceBusMessageActions
) -> None:
    """One event message of either contract, routed by its event type: contract v1 ("customer signed the MCA")
    to the attestation, contract v2 ("MCA acceptance requested") to the enhanced attestation's next step; then
    the message is settled.

    The name predates contract v2 and stays: renaming a deployed function is a breaking change (the host, its
    metrics and alerts know the function by name)."""
    from functions.settler import FunctionsMessageSettler
    from shared.attestation.contract import MAX_BODY_BYTES
    from shared.servicebus.messages import body_bytes, delivery_of, time_to_live_seconds
    from shared.servicebus.processing import process_message

    services = await runtime.services()
    await process_message(
        body_bytes(message, limit=MAX_BODY_BYTES),
        delivery=delivery_of(message),
        router=services.router,
        settler=FunctionsMessageSettler(message, message_actions, runtime.retry_scheduler()),
        policy=services.redelivery,
        rng=services.rng,
        time_to_live=time_to_live_seconds(message),
    )
