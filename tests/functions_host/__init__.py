"""The function app inside the real Azure Functions Python worker (``azure_functions_runtime``), driven by a
test host over gRPC (``host.py``). See README, "What runs here and what does not"."""
