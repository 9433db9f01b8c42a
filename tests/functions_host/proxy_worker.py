"""A stand-in for the Azure Functions Python *proxy worker*: the thin process the host starts for Python 3.13+.

The real one ships only inside Core Tools and the Functions host, not on PyPI. Like it, this one connects
to the host at ``--host``/``--port``, opens ``FunctionRpc.EventStream``, sends ``StartStream``, imports
``azure_functions_runtime`` on ``WorkerInitRequest`` (and starts its thread pool), then forwards each
request kind one to one to the library's async entry points and sends every log record back as
``RpcLog``. All the behaviour under test (indexing, binding conversion, injection of the settlement
client, invoking the function) is the library's; this file only moves messages.

Run by path (``python tests/functions_host/proxy_worker.py --host ... --port ...``), with the function
app directory as the working directory, as the host starts the real one. ``WorkerTerminate`` is ignored,
as the real worker ignores it: the host ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import grpc
import rpc_protos  # type: ignore[import-not-found]  # this file's own folder (sys.path[0] when run by path); mypy knows it as tests.functions_host.rpc_protos

# The worker process must not see the test folder on sys.path: the app's imports resolve as in Azure.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]

protos = rpc_protos.load()

# Loggers whose records are the worker's own (RpcLog category System); everything else is User.
SYSTEM_LOGGERS = ("azure.functions", "azure_functions_runtime", "azure_functions_worker")
LEVELS = (
    (logging.CRITICAL, protos.RpcLog.Critical),
    (logging.ERROR, protos.RpcLog.Error),
    (logging.WARNING, protos.RpcLog.Warning),
    (logging.INFO, protos.RpcLog.Information),
    (logging.DEBUG, protos.RpcLog.Debug),
)


@dataclass
class WorkerRequest:
    """What ``azure_functions_runtime``'s entry points take: the request kind, the message, and extras."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions-worker-id", "--workerId", dest="worker_id", required=True)
    parser.add_argument("--functions-request-id", "--requestId", dest="request_id", required=True)
    parser.add_argument(
        "--functions-grpc-max-message-length", "--grpcMaxMessageLength", dest="max_message_length", type=int
    )
    return parser.parse_known_args(argv)[0]


class RpcLogHandler(logging.Handler):
    """Sends each log record to the host as ``RpcLog``, tagged with the current invocation id."""

    def __init__(self, worker: ProxyWorker) -> None:
        super().__init__()
        self._worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        runtime = sys.modules.get("azure_functions_runtime")
        invocation_id = runtime.invocation_id_cv.get() if runtime is not None else None
        level = next((rpc for py, rpc in LEVELS if record.levelno >= py), protos.RpcLog.Trace)
        system = record.name.startswith(SYSTEM_LOGGERS)
        log = protos.RpcLog(
            invocation_id=invocation_id or "",
            category=record.name,
            level=level,
            message=self.format(record),
            log_category=protos.RpcLog.System if system else protos.RpcLog.User,
        )
        self._worker.send_threadsafe(protos.StreamingMessage(request_id=self._worker.request_id, rpc_log=log))


class ProxyWorker:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.request_id = args.request_id
        self._outbox: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._runtime: ModuleType | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send_threadsafe(self, message: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: the stream is gone, and the record with it
            self._loop.call_soon_threadsafe(self._outbox.put_nowait, message)

    async def _outgoing(self) -> Any:
        while True:
            yield await self._outbox.get()

    async def run(self) -> None:
        length = self.args.max_message_length or -1
        options = [("grpc.max_send_message_length", length), ("grpc.max_receive_message_length", length)]
        async with grpc.aio.insecure_channel(f"{self.args.host}:{self.args.port}", options=options) as channel:
            stream = protos.FunctionRpcStub(channel).EventStream(self._outgoing())
            start = protos.StartStream(worker_id=self.args.worker_id)
            self._outbox.put_nowait(protos.StreamingMessage(request_id=self.request_id, start_stream=start))
            async for message in stream:
                self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        kind = message.WhichOneof("content")
        if kind == "worker_init_request":
            self._spawn(self._init(message))
        elif kind in HANDLERS:
            self._spawn(self._forward(message, *HANDLERS[kind]))
        elif kind == "worker_status_request":
            self._outbox.put_nowait(
                protos.StreamingMessage(
                    request_id=message.request_id, worker_status_response=protos.WorkerStatusResponse()
                )
            )
        # worker_terminate and anything else: ignored, as the real worker does.

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _init(self, message: Any) -> None:
        directory = message.worker_init_request.function_app_directory
        if directory and directory not in sys.path:
            sys.path.insert(0, directory)
        import azure_functions_runtime

        azure_functions_runtime.start_threadpool_executor()
        self._runtime = azure_functions_runtime
        properties = {"protos": protos, "host": self.args.host}
        response = await azure_functions_runtime.worker_init_request(
            WorkerRequest("WorkerInitRequest", message, properties)
        )
        self._outbox.put_nowait(protos.StreamingMessage(request_id=message.request_id, worker_init_response=response))

    async def _forward(self, message: Any, entry_point: str, response_field: str) -> None:
        assert self._runtime is not None, "a request before WorkerInitRequest"
        if message.HasField("invocation_request"):
            # Logs of this invocation carry its id (copied into threads by asyncio.to_thread).
            self._runtime.invocation_id_cv.set(message.invocation_request.invocation_id)
        request = WorkerRequest(entry_point, message, {"protos": protos, "host": self.args.host})
        response = await getattr(self._runtime, entry_point)(request)
        self._outbox.put_nowait(protos.StreamingMessage(request_id=message.request_id, **{response_field: response}))


# Request kind → (azure_functions_runtime entry point, StreamingMessage field of the response).
HANDLERS = {
    "functions_metadata_request": ("functions_metadata_request", "function_metadata_response"),
    "function_load_request": ("function_load_request", "function_load_response"),
    "invocation_request": ("invocation_request", "invocation_response"),
    "function_environment_reload_request": (
        "function_environment_reload_request",
        "function_environment_reload_response",
    ),
}


async def main() -> None:
    worker = ProxyWorker(parse_args())
    handler = RpcLogHandler(worker)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING") == "1" else logging.INFO)
    try:
        await worker.run()
    except grpc.aio.AioRpcError as exc:
        if exc.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
            raise
    finally:
        root.removeHandler(handler)


if __name__ == "__main__":
    asyncio.run(main())
