"""What the Functions host puts on the wire for our two triggers, built as the real host builds it.

Each rule names where it comes from. "Reference" is ``shared/reference/functions-worker.md`` (facts
gathered by running the real worker packages); the upstream sources are named where the rule is theirs:

- ``GrpcMessageConversionExtensions.ToRpc`` in azure-functions-host (``src/WebJobs.Script.Grpc/
  MessageExtensions``): how one .NET value becomes a ``TypedData``;
- ``ScriptInvocationContextExtensions.ToRpcInvocationRequest`` (same folder): input data, trigger metadata,
  and the ``sys`` entry every invocation carries;
- the Service Bus extension (``Microsoft.Azure.WebJobs.Extensions.ServiceBus`` 5.x): the message's binding
  data (``ServiceBusTriggerBindingStrategy.GetBindingData``) and its ``ParameterBindingData`` for SDK-type
  bindings (lock token + AMQP message);
- the Timer extension (``Microsoft.Azure.WebJobs.Extensions`` ``TimerInfo``): the timer's JSON.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.servicebus._pyamqp._encode import encode_annotations, encode_payload, encode_value
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus._pyamqp.types import TYPE, VALUE, AMQPTypes

from tests.functions_host import rpc_protos

protos = rpc_protos.load()

# ModelBindingData of a received message (Reference, "The Service Bus SDK-type binding"; the extension's
# ServiceBusReceivedMessage converter): version, source and content type are constants.
MODEL_BINDING_DATA_VERSION = "1.0"
MODEL_BINDING_DATA_SOURCE = "AzureServiceBusReceivedMessage"
MODEL_BINDING_DATA_CONTENT_TYPE = "application/octet-stream"
LOCK_TOKEN_ANNOTATION = b"x-opt-lock-token"
DELIVERY_ANNOTATIONS_DESCRIPTOR = 0x71  # AMQP 1.0 §3.2.2 delivery-annotations


def _json(value: Any) -> str:
    """Newtonsoft's JsonConvert.SerializeObject for the values used here: ISO-8601 dates, no spaces."""

    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.astimezone(UTC).isoformat().replace("+00:00", "Z")
        raise TypeError(f"no JSON form for {type(item).__name__}")

    return json.dumps(value, default=default, separators=(",", ":"))


def to_typed_data(value: Any) -> Any:
    """One .NET value → ``TypedData``, as ``GrpcMessageConversionExtensions.ToRpc`` converts it.

    Strings as ``string``, doubles as ``double``, binding data as ``model_binding_data``, bytes as
    ``bytes``; **everything else, integers and booleans included, as ``json``** (Reference: an ``int``
    ``TypedData`` makes the worker fail with "unsupported TypeData kind").
    """
    if value is None:
        return protos.TypedData()
    if isinstance(value, protos.FunctionRpc_pb2.ModelBindingData):
        return protos.TypedData(model_binding_data=value)
    if isinstance(value, bytes):
        return protos.TypedData(bytes=value)
    if isinstance(value, str):
        return protos.TypedData(string=value)
    if isinstance(value, float):
        return protos.TypedData(double=value)
    return protos.TypedData(json=_json(value))


@dataclass(frozen=True)
class HostMessage:
    """A Service Bus message as the host received it: the parts the binding data and the bytes are built from."""

    body: bytes
    message_id: str
    lock_token: uuid.UUID = field(default_factory=uuid.uuid4)
    application_properties: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = "application/json"
    correlation_id: str | None = None
    delivery_count: int = 1
    sequence_number: int = 1
    enqueued_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    lock_duration: timedelta = timedelta(minutes=5)
    time_to_live: timedelta = timedelta(days=14)

    @property
    def locked_until(self) -> datetime:
        return self.enqueued_time + self.lock_duration

    @property
    def expires_at(self) -> datetime:
        return self.enqueued_time + self.time_to_live


def amqp_message_bytes(message: HostMessage) -> bytes:
    """The raw AMQP message the broker delivered (``ServiceBusReceivedMessage.GetRawAmqpMessage()``), encoded
    section by section in AMQP order: header, delivery-annotations (holding the lock token),
    message-annotations, properties, application-properties, data (Reference)."""
    output = bytearray()
    # pyamqp's encode_payload writes every section except delivery-annotations: header first, on its own.
    encode_payload(output, Message(header=Header(delivery_count=message.delivery_count - 1, durable=True)))
    delivery_annotations: dict[str | bytes, Any] = {
        LOCK_TOKEN_ANNOTATION: {TYPE: AMQPTypes.uuid, VALUE: message.lock_token}
    }
    encode_value(
        output,
        {
            TYPE: AMQPTypes.described,
            VALUE: (
                {TYPE: AMQPTypes.ulong, VALUE: DELIVERY_ANNOTATIONS_DESCRIPTOR},
                encode_annotations(delivery_annotations),
            ),
        },
    )
    application_properties: dict[str | bytes, Any] = {
        key: value for key, value in message.application_properties.items()
    }
    rest = Message(
        message_annotations={
            b"x-opt-enqueued-time": {TYPE: AMQPTypes.timestamp, VALUE: message.enqueued_time},
            b"x-opt-sequence-number": {TYPE: AMQPTypes.long, VALUE: message.sequence_number},
            b"x-opt-locked-until": {TYPE: AMQPTypes.timestamp, VALUE: message.locked_until},
        },
        properties=Properties(
            message_id=message.message_id,
            content_type=message.content_type,
            correlation_id=message.correlation_id,
        ),
        application_properties=application_properties or None,
        data=[message.body],
    )
    encode_payload(output, rest)
    return bytes(output)


def model_binding_data(message: HostMessage) -> Any:
    """The trigger's ``ModelBindingData``: the lock token in .NET ``Guid.ToByteArray()`` order (Python's
    ``UUID.bytes_le``) followed by the raw AMQP message, byte for byte (Reference)."""
    return protos.FunctionRpc_pb2.ModelBindingData(
        version=MODEL_BINDING_DATA_VERSION,
        source=MODEL_BINDING_DATA_SOURCE,
        content_type=MODEL_BINDING_DATA_CONTENT_TYPE,
        content=message.lock_token.bytes_le + amqp_message_bytes(message),
    )


def system_binding_data(method_name: str) -> dict[str, Any]:
    """The ``sys`` entry the host adds to every invocation's binding data (ToRpcInvocationRequest)."""
    return {"MethodName": method_name, "UtcNow": datetime.now(UTC), "RandGuid": str(uuid.uuid4())}


def service_bus_trigger_metadata(message: HostMessage, method_name: str) -> dict[str, Any]:
    """The binding data of one received message (ServiceBusTriggerBindingStrategy.GetBindingData), by .NET
    type: strings, ints, DateTimes and the properties dictionary. Object-valued entries (``MessageActions``,
    ``SessionActions``, ``Client``, ``ReceiveActions``) are left out: their wire form could not be checked
    here, and the worker reads none of them for an SDK-type binding."""
    return {
        "DeliveryCount": message.delivery_count,
        "LockToken": str(message.lock_token),
        "ExpiresAtUtc": message.expires_at,
        "ExpiresAt": message.expires_at,
        "EnqueuedTimeUtc": message.enqueued_time,
        "EnqueuedTime": message.enqueued_time,
        "MessageId": message.message_id,
        "ContentType": message.content_type,
        "SequenceNumber": message.sequence_number,
        "CorrelationId": message.correlation_id,
        "ApplicationProperties": dict(message.application_properties),
        "UserProperties": dict(message.application_properties),
        "sys": system_binding_data(method_name),
    }


def timer_info(*, past_due: bool, now: datetime | None = None) -> dict[str, Any]:
    """``TimerInfo`` as the Timer extension serializes it (schedule, status and the past-due flag)."""
    now = now or datetime.now(UTC)
    return {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {"Last": now - timedelta(hours=12), "Next": now + timedelta(hours=6), "LastUpdated": now},
        "IsPastDue": past_due,
    }


def invocation_request(
    function_id: str, bindings: Mapping[str, Any], trigger_metadata: Mapping[str, Any], invocation_id: str
) -> Any:
    """An ``InvocationRequest``: each input as a ``ParameterBinding``, each metadata value through ToRpc
    (null values are left out, as ToRpcInvocationRequest skips them)."""
    return protos.InvocationRequest(
        invocation_id=invocation_id,
        function_id=function_id,
        input_data=[protos.ParameterBinding(name=name, data=to_typed_data(value)) for name, value in bindings.items()],
        trigger_metadata={key: to_typed_data(value) for key, value in trigger_metadata.items() if value is not None},
    )


def service_bus_invocation(function: Any, arg_name: str, message: HostMessage, invocation_id: str) -> Any:
    """The queue trigger's invocation: the message as ``model_binding_data``, its binding data as metadata."""
    return invocation_request(
        function.function_id,
        {arg_name: model_binding_data(message)},
        service_bus_trigger_metadata(message, function.name),
        invocation_id,
    )


def timer_invocation(function: Any, arg_name: str, *, past_due: bool, invocation_id: str) -> Any:
    """The timer's invocation: ``TimerInfo`` JSON as input and as the trigger's own binding data."""
    info = timer_info(past_due=past_due)
    metadata = {arg_name: info, "sys": system_binding_data(function.name)}
    return invocation_request(function.function_id, {arg_name: info}, metadata, invocation_id)
