"""The Azure Functions app (Python v2 model). It only registers one blueprint per trigger.

Everything else — settings, clients, caches — is built on first use (see ``functions/runtime.py``).
"""

import azure.functions as func

from functions.attest_queue import bp as attest_queue
from functions.reconcile_daily import bp as reconcile_daily
from functions.refresh_metadata import bp as refresh_metadata

app = func.FunctionApp()
app.register_functions(attest_queue)
app.register_functions(refresh_metadata)
app.register_functions(reconcile_daily)
