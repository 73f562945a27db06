"""A node process: the node plus its API server, until SIGTERM or SIGINT.

`python -m gusu.api.process NODE_DIRECTORY` is what `gusu node start`
runs (in the foreground, or detached with its output in node.log). The
process writes `node.pid` while it serves and a one-line JSON `ready`
record on stdout once its endpoints accept requests, which is how the CLI
and the end-to-end tests know it is up.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from gusu.api.eth import EthSettings
from gusu.api.gateway import GatewaySupervisor, start_gateways
from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.errors import GusuError, NodeError
from gusu.node.chain import load_node
from gusu.node.config import NodeConfig, compute_settings, load_config

logger = logging.getLogger("gusu.process")

ReadyCallback = Callable[[dict[str, object]], None]

GC_YOUNG_ALLOCATIONS = 20_000
"""Net allocations between two young-generation collections (Python's default is 700).

A node allocates hundreds of short-lived objects per request and per transaction, nearly all freed by
reference counting; at the default, collections took about 5 % of the process's time under an Ethereum load
(1,100 young and 10 full collections in 25 s, a full one 70 ms, each a pause for every request), and 0.1 %
at 20,000 (docs/benchmarks.md). Cyclic garbage is still collected, later."""
GC_OLDER_RATIOS = (10, 10)
"""Python's defaults for the middle and oldest generations."""


def tune_garbage_collector() -> None:
    """Freeze what start-up made (modules, contract code, caches: scanning them again found nothing) and
    collect the young generation less often (`GC_YOUNG_ALLOCATIONS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_ALLOCATIONS, *GC_OLDER_RATIOS)


def is_process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return pid if is_process_alive(pid) else None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def compute_api_settings(config: NodeConfig) -> tuple[ApiSettings, EthSettings]:
    """The API's settings from the config's ``[api]`` and ``[eth]`` tables; ConfigError names a bad one."""
    api = compute_settings(ApiSettings, dict(config.api), "api")
    return api, compute_settings(EthSettings, dict(config.eth), "eth")


async def serve(directory: Path, *, on_ready: ReadyCallback | None = None) -> None:
    config = load_config(directory)
    api_settings, eth_settings = compute_api_settings(config)
    running_pid = read_pid(config.pid_path)
    if running_pid is not None and running_pid != os.getpid():
        raise NodeError(f"a node is already running from {directory} (pid {running_pid}); stop it first")
    node = load_node(directory)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    try:
        # Node gains get_evidence with persisted evidence (issue 7); until then the API answers
        # evidence requests with "unavailable" (NodeApi.evidence). Remove this ignore then.
        server = await start_api(node, api_settings, eth_settings)
        gateways: GatewaySupervisor | None = None
        try:
            if api_settings.gateway_workers:
                gateways = await start_gateways(api_settings, server.dispatcher, config.node.log_level)
            tune_garbage_collector()
            config.pid_path.write_text(f"{os.getpid()}\n", encoding="utf-8")
            ready: dict[str, object] = {
                "ready": True,
                "chain_id": node.chain_id,
                "height": int(node.height),
                "rpc": f"{server.url}/rpc",
                "websocket": server.ws_url,
                "rest": f"{server.url}/v1",
                "metrics": f"{server.url}/metrics",
                "pid": os.getpid(),
            }
            if gateways is not None:
                ready["rpc_gateway"] = f"{gateways.url}/rpc"
            if on_ready is not None:
                on_ready(ready)
            logger.info("serving %s", ready)
            await stop.wait()
            logger.info("stopping")
        finally:
            if gateways is not None:
                await gateways.close()
            await server.close()
    finally:
        await node.stop()
        if read_pid(config.pid_path) == os.getpid():
            config.pid_path.unlink(missing_ok=True)


def _print_ready(record: dict[str, object]) -> None:
    print(json.dumps(record), flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m gusu.api.process NODE_DIRECTORY", file=sys.stderr)
        return 2
    directory = Path(arguments[0])
    try:
        configure_logging(load_config(directory).node.log_level)
    except GusuError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(directory, on_ready=_print_ready))
    except GusuError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
