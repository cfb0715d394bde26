"""The small JSON protocol between the appender and a replica served over HTTP
(``mailworker ledger serve``). Shared by the client (remote.py) and the server (server.py).

Reads are GET with query parameters; writes are POST with a JSON body and need the
bearer token (``[ledger] replica_token_file``/``_env``) when one is configured. Hashes
and leaves travel as standard base64. The replica checks everything it is asked to sign
against its own store, as the C2SP witness protocol's add-checkpoint does: a client can
make it refuse, never make it vouch for a tree it does not hold.

    GET  /info[?signed_by=NAME]        name, origin, size, last signed, stored checkpoint
    GET  /root?size=N                  root hash of its tree at N
    GET  /leaves?start=A&end=B         leaf data, at most MAX_LEAVES per call
    GET  /edge?size=N                  right-edge tiles and bundle (to plan an append)
    GET  /inclusion?index=I&size=N     inclusion proof
    GET  /consistency?old=M&new=N      consistency proof
    GET  /audit?sizes=N,M              full self-check (may take a while on big trees)
    POST /append-and-sign              {base_size, leaves, checkpoint, previous, signed_at}
    POST /sign                         {checkpoint, signed_at}
    POST /checkpoint                   {size, note}
"""
from __future__ import annotations

import base64

MAX_LEAVES = 4096
MAX_BODY = 64 * 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
