"""The node's API server: JSON-RPC 2.0 (HTTP and WebSocket), REST, OpenAPI, metrics and health.

The contract is docs/api.md. `start_api(node, settings)` serves a
`gusu.node.service.NodeService`; `create_app` gives the aiohttp application
itself, for embedding or tests.
"""

from gusu.api.server import ApiServer, create_app, start_api
from gusu.api.settings import ApiSettings

__all__ = ["ApiServer", "ApiSettings", "create_app", "start_api"]
