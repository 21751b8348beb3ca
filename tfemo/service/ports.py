"""Whether the address the service is to bind is usable, before the model is loaded."""

from __future__ import annotations

import socket

from tfemo.core.errors import UserError


def check_port_free(host: str, port: int) -> None:
    """UserError when `host:port` cannot be bound (taken, not this machine's, no permission)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OverflowError) as error:
        raise UserError(f"--host {host}: not an address ({error})",
                        "give an address of this machine, like 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise UserError(f"cannot bind {host}:{port}: {error.strerror}",
                            "choose a free --port, or stop what holds it") from None
