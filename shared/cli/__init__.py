"""The ``mca-attest`` command line: bulk attest, worker, publisher and dead-letter operations."""
