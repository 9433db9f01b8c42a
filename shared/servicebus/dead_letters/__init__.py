"""Dead-letter queue operations for on-call, over the SDK receivers and senders they are handed (they open no
connection): ``records`` (what a dead letter is), ``browse`` (peek and filter), ``documents`` (the list, the
full document, the 0600 export), ``edits`` (``--set``/``--unset``), ``sweep`` (peek-lock rounds), ``replay``
and ``purge``.
"""
