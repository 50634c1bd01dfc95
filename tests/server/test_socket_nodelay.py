"""The server's listening socket gives every connection TCP_NODELAY.

asyncio sets TCP_NODELAY only on connections of a socket created with proto IPPROTO_TCP. A socket
created with the default proto 0 left Nagle's algorithm on, and each keep-alive response then
waited about 40 ms for the client's delayed ACK (measured: 44 ms per request to a loopback stub,
1.2 ms after the fix).
"""

from __future__ import annotations

import asyncio
import socket

from routellm_core.server.cli import bind


def test_connections_of_the_listening_socket_have_nodelay():
    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=bind("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) != 0
