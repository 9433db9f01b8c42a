"""The generated ``FunctionRpc`` modules, shared by the test host and the stand-in worker.

They ship only inside ``azure-functions-runtime-v1``'s wheel, as a top-level ``tests/protos`` package in
site-packages. That name collides with this project's own ``tests`` package, so the files are loaded by
path under :data:`MODULE_NAME` instead of imported. The module is what the real proxy worker hands to
``azure_functions_runtime`` as ``properties["protos"]``: it exports every message class the library uses.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import distribution
from pathlib import Path
from types import ModuleType

MODULE_NAME = "functions_host_rpc_protos"
DISTRIBUTION = "azure-functions-runtime-v1"


def load() -> ModuleType:
    """The ``FunctionRpc`` package (loaded once per process); ``.FunctionRpc_pb2`` holds every message."""
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    init = Path(str(distribution(DISTRIBUTION).locate_file("tests/protos/__init__.py")))
    if not init.is_file():
        raise ImportError(f"{DISTRIBUTION} does not ship tests/protos any more: looked for {init}")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {init} as a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE_NAME]
        raise
    return module
