"""The BaaS console: Gusu's web face, served by `gusu console`.

An aiohttp server (`gusu.console.server`) renders small HTML shells and
answers a JSON API under ``/api/``; a hand-written script with no build step
(``static/app.js``) fills the pages from that API. Everything the browser
loads comes from this package's data, under a strict Content-Security-Policy.
The console reads the chain only through a node's documented JSON-RPC API,
with the SDK (`gusu.sdk.AsyncClient`); it never imports node internals.
See docs/console.md.
"""
