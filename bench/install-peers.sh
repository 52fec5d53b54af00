#!/usr/bin/env bash
# Installs the peer gateways that `make bench` compares ours with, into
# bench/.peers/ only (nothing outside the repo):
#   - LiteLLM proxy (PyPI litellm[proxy]) in a venv bench/.peers/litellm-venv
#   - Portkey gateway (npm @portkey-ai/gateway) under bench/.peers/portkey
# Versions are pinned so a benchmark run is reproducible; a stamp file per peer
# holding them makes a second run a no-op (change a pin and that peer is
# reinstalled from scratch).
set -euo pipefail

# 1.103.7 is the newest LiteLLM that resolves from the registry here: 1.103.8
# and later require certifi>=2026.10.19, which the registry does not hold.
LITELLM_VERSION=1.103.7
PORTKEY_VERSION=1.15.2
# The gateway asks for @hono/node-server ^1.3.3, and the releases from 1.14.2 on
# break it on Node: it then answers {"status":"failure","message":"Something
# went wrong"} to every streamed chat completion (TypeError: immutable in its
# updateHeaders; upstream issue Portkey-AI/gateway#1389). @hono/node-ws 1.2.0
# is the newest that accepts that server. Both are pinned with npm overrides.
HONO_NODE_SERVER_VERSION=1.14.1
HONO_NODE_WS_VERSION=1.2.0
PYTHON=${PYTHON:-python3}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS="$HERE/.peers"
mkdir -p "$PEERS"

# install_once NAME STAMP_TEXT COMMAND...: runs COMMAND unless NAME's stamp
# already says STAMP_TEXT; writes the stamp only after COMMAND succeeded.
install_once() {
    local name=$1 want=$2
    shift 2
    local stamp="$PEERS/$name.stamp"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        echo "install-peers: $name already installed ($want)"
        return
    fi
    echo "install-peers: installing $name ($want)"
    local start=$SECONDS
    rm -f "$stamp"
    "$@"
    echo "$want" >"$stamp"
    echo "install-peers: $name installed in $((SECONDS - start)) s"
}

install_litellm() {
    local venv="$PEERS/litellm-venv"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
    # Fails the install (and so leaves no stamp) if the proxy cannot import;
    # the local cost map keeps the import from fetching one from the internet.
    LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/python" -c 'import litellm.proxy.proxy_server'
}

install_portkey() {
    local prefix="$PEERS/portkey"
    rm -rf "$prefix"
    mkdir -p "$prefix"
    printf '%s\n' \
        '{' \
        '  "private": true,' \
        "  \"dependencies\": { \"@portkey-ai/gateway\": \"$PORTKEY_VERSION\" }," \
        '  "overrides": {' \
        "    \"@hono/node-server\": \"$HONO_NODE_SERVER_VERSION\"," \
        "    \"@hono/node-ws\": \"$HONO_NODE_WS_VERSION\"" \
        '  }' \
        '}' >"$prefix/package.json"
    # --omit=dev: the published build needs only its runtime dependencies.
    npm install --prefix "$prefix" --omit=dev --no-audit --no-fund --loglevel=error
    test -f "$prefix/node_modules/@portkey-ai/gateway/build/start-server.js"
}

python_tag=$("$PYTHON" -c 'import sys; print("py%d.%d" % sys.version_info[:2])')
install_once litellm "litellm[proxy]==$LITELLM_VERSION $python_tag" install_litellm
install_once portkey "@portkey-ai/gateway@$PORTKEY_VERSION @hono/node-server@$HONO_NODE_SERVER_VERSION @hono/node-ws@$HONO_NODE_WS_VERSION node$(node --version)" install_portkey
echo "install-peers: done ($(du -sh "$PEERS" | cut -f1) in $PEERS)"
