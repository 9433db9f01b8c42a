"""mca-attest: attest Microsoft Customer Agreement acceptance to Partner Center, once, from events.

Modules, by concern:

- ``settings``      every app setting the code reads, and the frozen ``Settings`` built from them
- ``contract``      the "customer signed MCA" event (v1): parsing and field-level validation
- ``partner_center`` the HTTP client, its error tree, request ids and token providers
- ``attestation``   the ``attest(event) -> Outcome`` use case and the dead-letter reason vocabulary
"""
