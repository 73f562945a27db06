"""start_api serves a real socket, reports its URLs, and closes cleanly."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import ClientSession
from fake_node import FakeNode

from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.errors import ConfigError


def test_start_serve_and_close() -> None:
    async def main() -> None:
        node = FakeNode()
        server = await start_api(node, ApiSettings(port=0))
        assert server.url.startswith("http://127.0.0.1:")
        assert server.ws_url == server.url.replace("http://", "ws://") + "/ws"
        try:
            async with ClientSession() as session:
                response = await session.post(
                    server.url + "/rpc", data=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "gusu_blockNumber"})
                )
                assert await response.json() == {"jsonrpc": "2.0", "id": 1, "result": 0}
                async with session.ws_connect(server.ws_url) as ws:
                    await ws.send_str('{"jsonrpc":"2.0","id":2,"method":"gusu_subscribe","params":["newBlocks"]}')
                    subscription = (await ws.receive_json(timeout=5))["result"]
                    node.commit_block()
                    message = await ws.receive_json(timeout=5)
                    assert message["params"]["subscription"] == subscription
                    assert message["params"]["result"]["height"] == 1
        finally:
            await server.close()
        assert node.listeners == []

    asyncio.run(main())


def test_port_in_use_is_a_config_error() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
                await start_api(FakeNode(), ApiSettings(port=port))

    asyncio.run(main())
