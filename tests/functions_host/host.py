"""A test host for the real Azure Functions Python worker (``azure_functions_runtime``).

It plays the part of the .NET Functions host towards one worker process, on 127.0.0.1:

- one gRPC server, one port, serving the host side of ``FunctionRpc.EventStream`` **and** the
  ``Settlement`` service, as the real host does (the SDK-type binding's ``ServiceBusMessageActions``
  dials the worker's own ``--host``/``--port``);
- it starts the worker (``proxy_worker.py``, a stand-in for the proxy worker that loads
  ``azure_functions_runtime``) with the real host's command line, and drives StartStream →
  WorkerInitRequest → FunctionsMetadataRequest → FunctionLoadRequest → InvocationRequest;
- every ``RpcLog`` the worker sends back is kept (``logs``), every settlement call is recorded
  (``settlement.calls``), and settlement can be told to fail (``settlement.fail_with``).

What it cannot be is the .NET host itself: no Service Bus listener, no lock renewal, no abandon after a
``Failure``, no ``host.json`` concurrency (README, "What runs here and what does not").
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from azurefunctions.extensions.bindings.protos import settlement_pb2_grpc
from google.protobuf import empty_pb2

from tests.functions_host import rpc_protos

protos = rpc_protos.load()

PROXY_WORKER = Path(__file__).with_name("proxy_worker.py")
MAX_MESSAGE_LENGTH = 2_147_483_647  # what the host passes as --functions-grpc-max-message-length
HOST_VERSION = "4.1040.0.0"  # WorkerInitRequest.host_version: any 4.x host


class WorkerExited(RuntimeError):
    """The worker process ended, or did not answer in time; the message carries its stderr."""


@dataclass(frozen=True)
class SettlementCall:
    """One call the worker made on the host's Settlement service, with what ``observe`` saw at that moment."""

    method: str
    lock_token: str
    reason: str | None = None
    description: str | None = None
    observed: Any = None


class RecordingSettlement(settlement_pb2_grpc.SettlementServicer):  # type: ignore[misc]  # the generated servicer is untyped (Any)
    """The host's Settlement service: records every call in order; with ``fail_with`` set, records the call
    and then answers it with that gRPC status, as a host whose Service Bus call failed would."""

    def __init__(self) -> None:
        self.calls: list[SettlementCall] = []
        self.fail_with: grpc.StatusCode | None = None
        self.observe: Callable[[], Any] | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
        self.fail_with, self.observe = None, None

    def _settle(self, method: str, request: Any, context: grpc.ServicerContext, **details: Any) -> Any:
        observed = self.observe() if self.observe is not None else None
        with self._lock:
            self.calls.append(SettlementCall(method, request.locktoken, observed=observed, **details))
        if self.fail_with is not None:
            context.abort(self.fail_with, f"{method}: the test host was told to fail settlement")
        return empty_pb2.Empty()

    def Complete(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._settle("Complete", request, context)

    def Abandon(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._settle("Abandon", request, context)

    def Defer(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._settle("Defer", request, context)

    def RenewMessageLock(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._settle("RenewMessageLock", request, context)

    def Deadletter(self, request: Any, context: grpc.ServicerContext) -> Any:
        reason = request.deadletterReason.value if request.HasField("deadletterReason") else None
        description = (
            request.deadletterErrorDescription.value if request.HasField("deadletterErrorDescription") else None
        )
        return self._settle("Deadletter", request, context, reason=reason, description=description)


class _Inbox:
    """What the worker sent: ``RpcLog`` records in ``logs``, everything else waits for ``expect``."""

    def __init__(self) -> None:
        self.logs: list[Any] = []
        self._messages: list[Any] = []
        self._changed = threading.Condition()

    def put(self, message: Any) -> None:
        with self._changed:
            if message.WhichOneof("content") == "rpc_log":
                self.logs.append(message.rpc_log)
            else:
                self._messages.append(message)
            self._changed.notify_all()

    def take(self, match: Callable[[Any], bool], timeout: float, alive: Callable[[], bool]) -> Any | None:
        """The first unclaimed message ``match`` accepts (removed), or None after ``timeout`` or a dead worker."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, message in enumerate(self._messages):
                    if match(message):
                        return self._messages.pop(index)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not alive():
                    return None
                self._changed.wait(min(remaining, 0.5))


class _EventStream(protos.FunctionRpcServicer):  # type: ignore[name-defined, misc]  # generated, loaded at run time by rpc_protos.load()
    """The host side of the bidirectional stream: outgoing messages from a queue, incoming to the inbox."""

    def __init__(self, inbox: _Inbox) -> None:
        self.inbox = inbox
        self.outbox: queue.Queue[Any] = queue.Queue()

    def EventStream(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        reader = threading.Thread(target=self._read, args=(request_iterator,), name="host-stream-reader", daemon=True)
        reader.start()
        while context.is_active():
            try:
                message = self.outbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if message is None:
                return
            yield message

    def _read(self, request_iterator: Iterator[Any]) -> None:
        try:
            for message in request_iterator:
                self.inbox.put(message)
        except grpc.RpcError:
            pass  # the stream ended: the worker exited or the host stopped


class FunctionsHost:
    """One gRPC server (EventStream + Settlement) on 127.0.0.1 and the worker process it started."""

    def __init__(self) -> None:
        self.settlement = RecordingSettlement()
        self._inbox = _Inbox()
        self._stream = _EventStream(self._inbox)
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="functions-host"),
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_LENGTH),
                ("grpc.max_receive_message_length", MAX_MESSAGE_LENGTH),
            ],
        )
        protos.add_FunctionRpcServicer_to_server(self._stream, self._server)
        settlement_pb2_grpc.add_SettlementServicer_to_server(self.settlement, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Path | None = None
        self.app_directory = ""

    @property
    def logs(self) -> list[Any]:
        """Every ``RpcLog`` the worker has sent, in order."""
        return list(self._inbox.logs)

    # ------------------------------------------------------------------ the worker process
    def start_worker(self, app_directory: Path, env: Mapping[str, str], stderr_path: Path) -> None:
        """Start the worker as the host does (its command line, the app folder as working directory) and
        wait for its StartStream."""
        self.app_directory = str(app_directory)
        worker_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
        command = [
            sys.executable,
            str(PROXY_WORKER),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--functions-worker-id",
            worker_id,
            "--functions-request-id",
            request_id,
            "--functions-grpc-max-message-length",
            str(MAX_MESSAGE_LENGTH),
        ]
        self._stderr = stderr_path
        with stderr_path.open("wb") as stderr:
            self._process = subprocess.Popen(  # noqa: S603 — our own stand-in, fixed arguments
                command, cwd=app_directory, env=dict(env), stdout=stderr, stderr=stderr
            )
        started = self._expect(lambda m: m.WhichOneof("content") == "start_stream", timeout=30)
        if started.start_stream.worker_id != worker_id:
            raise WorkerExited(f"StartStream from worker {started.start_stream.worker_id!r}, expected {worker_id!r}")

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _expect(self, match: Callable[[Any], bool], timeout: float) -> Any:
        message = self._inbox.take(match, timeout, self._alive)
        if message is None:
            state = "exited" if not self._alive() else f"did not answer within {timeout:.0f} s"
            tail = self._stderr.read_text(errors="replace")[-4000:] if self._stderr and self._stderr.exists() else ""
            raise WorkerExited(f"the worker {state}; its output:\n{tail}")
        return message

    def _request(self, response_field: str, timeout: float = 30, **content: Any) -> Any:
        request_id = str(uuid.uuid4())
        self._stream.outbox.put(protos.StreamingMessage(request_id=request_id, **content))
        reply = self._expect(
            lambda m: m.request_id == request_id and m.WhichOneof("content") == response_field, timeout
        )
        return getattr(reply, response_field)

    # ------------------------------------------------------------------ the protocol, one call per step
    def init(self) -> Any:
        """WorkerInitRequest → WorkerInitResponse (the library indexes the app here)."""
        request = protos.WorkerInitRequest(
            host_version=HOST_VERSION,
            worker_directory=str(PROXY_WORKER.parent),
            function_app_directory=self.app_directory,
        )
        return self._request("worker_init_response", worker_init_request=request)

    def functions_metadata(self) -> Any:
        """FunctionsMetadataRequest → FunctionMetadataResponse: the functions, raw binding JSON unresolved."""
        request = protos.FunctionsMetadataRequest(function_app_directory=self.app_directory)
        return self._request("function_metadata_response", functions_metadata_request=request)

    def load(self, metadata: Any) -> Any:
        """FunctionLoadRequest for one function → FunctionLoadResponse."""
        request = protos.FunctionLoadRequest(function_id=metadata.function_id, metadata=metadata)
        return self._request("function_load_response", function_load_request=request)

    def invoke(self, request: Any, timeout: float = 60) -> Any:
        """InvocationRequest → InvocationResponse."""
        return self._request("invocation_response", timeout=timeout, invocation_request=request)

    def logs_of(self, invocation_id: str) -> list[Any]:
        return [log for log in self.logs if log.invocation_id == invocation_id]

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """End the worker as the host does (it ignores WorkerTerminate), then the server."""
        self._stream.outbox.put(None)
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._server.stop(grace=None).wait()

    def __enter__(self) -> FunctionsHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def worker_environment(app_settings: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: the app settings, as the host passes them, over a minimal process env."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(app_settings)
    return env
