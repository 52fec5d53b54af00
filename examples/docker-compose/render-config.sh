#!/bin/bash
# Renders the gateway's Envoy config, secrets and .wasm files into OUT_DIR (in
# the compose stack: the volume Envoy mounts at /etc/llm-gateway), from the
# template envoy.yaml beside this script and envoy/filters/demo.json, and
# validates the filter configurations in it, with the llm-gateway tool.
#
# Environment (all optional; compose passes your .env):
#   <P>_UPSTREAM   e.g. OPENAI_UPSTREAM=https://api.openai.com: send that provider's
#                  calls there (TLS for https) instead of the fake provider
#                  (P: a name of `llm-gateway providers --names`, upper-cased)
#   <P>_API_KEY    the key injected upstream for that provider (default sk-demo-<p>,
#                  which the fake provider accepts)
#   GATEWAY_CLIENT_KEYS  "key:client,key:client": the keys clients may use
#                  (default demo-key:demo,demo-intern-key:intern)
# The tests run this script outside any container, with these overridden:
#   OUT_DIR, TEMPLATE, FILTERS, WASM_SRC, LLM_GATEWAY_BIN, FAKE_PROVIDER_HOST,
#   FAKE_PROVIDER_PORT, COLLECTOR_HOST, LISTENER_ADDRESS, LISTENER_PORT, ADMIN_PORT, OPS_PORT
set -euo pipefail

OUT_DIR=${OUT_DIR:-/etc/llm-gateway}
TEMPLATE=${TEMPLATE:-/opt/llm-gateway/envoy.yaml}
FILTERS=${FILTERS:-/opt/llm-gateway/filters.json}
WASM_SRC=${WASM_SRC:-/opt/llm-gateway/wasm}
LLM_GATEWAY_BIN=${LLM_GATEWAY_BIN:-llm-gateway}
FAKE_PROVIDER_HOST=${FAKE_PROVIDER_HOST:-fake-provider}
FAKE_PROVIDER_PORT=${FAKE_PROVIDER_PORT:-10080}
GATEWAY_CLIENT_KEYS=${GATEWAY_CLIENT_KEYS:-demo-key:demo,demo-intern-key:intern}

secrets="$OUT_DIR/secrets"
mkdir -p "$secrets" "$OUT_DIR/wasm"
cp "$WASM_SRC"/*.wasm "$OUT_DIR/wasm/"

# Envoy watches the secrets directory: write each file aside, then rename it.
write() { # file, contents
  printf '%s' "$2" > "$1.tmp"
  chmod 0644 "$1.tmp" # Envoy runs as the image's `envoy` user
  mv -f "$1.tmp" "$1"
}

credentials=""
IFS=',' read -ra pairs <<< "$GATEWAY_CLIENT_KEYS"
for pair in "${pairs[@]}"; do
  key=${pair%%:*} client=${pair#*:}
  if [[ -z $key || -z $client || $pair != *:* ]]; then
    echo "render-config: GATEWAY_CLIENT_KEYS: expected key:client, got '$pair'" >&2
    exit 1
  fi
  credentials+="    - { key: \"$key\", client: \"$client\" }"$'\n'
done
write "$secrets/client-keys.yaml" "resources:
- \"@type\": type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig
  name: client_auth
  typed_config:
    \"@type\": type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth
    credentials:
${credentials}    key_sources: [{ header: authorization }, { header: x-api-key }, { header: api-key }, { header: x-goog-api-key }]
    forwarding: { header: x-client-id, hide_credentials: true }
"

sets=(
  --set "SECRETS_DIR=$secrets"
  --set "LISTENER_ADDRESS=${LISTENER_ADDRESS:-0.0.0.0}"
  --set "LISTENER_PORT=${LISTENER_PORT:-10000}"
  --set "ADMIN_PORT=${ADMIN_PORT:-9901}"
  --set "OPS_PORT=${OPS_PORT:-9902}"
  --set "COLLECTOR_HOST=${COLLECTOR_HOST:-$FAKE_PROVIDER_HOST}"
  --set "COLLECTOR_PORT=$FAKE_PROVIDER_PORT"
  --set "AUDIT_LOG=/dev/null"
)

providers=$("$LLM_GATEWAY_BIN" providers --names)
for provider in $providers; do
  P=${provider^^}
  key_var="${P}_API_KEY" upstream_var="${P}_UPSTREAM"
  key=${!key_var:-sk-demo-$provider}
  write "$secrets/$provider.key" "$key"
  write "$secrets/$provider-key.yaml" "resources:
- \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: ${provider}_key
  generic_secret:
    secret: { filename: \"$secrets/$provider.key\" }
"
  url=${!upstream_var:-}
  if [[ -z $url ]]; then
    sets+=(--set "${P}_HOST=$FAKE_PROVIDER_HOST" --set "${P}_PORT=$FAKE_PROVIDER_PORT")
    continue
  fi
  case $url in
    https://*) tls=1 rest=${url#https://} ;;
    http://*) tls=0 rest=${url#http://} ;;
    *) echo "render-config: $upstream_var: expected http(s)://host[:port], got '$url'" >&2; exit 1 ;;
  esac
  authority=${rest%%/*}
  host=${authority%:*}
  if [[ $authority == *:* ]]; then port=${authority##*:}; elif ((tls)); then port=443; else port=80; fi
  sets+=(--set "${P}_HOST=$host" --set "${P}_PORT=$port")
  if ((tls)); then sets+=(--set "${P}_TLS_SNI=$host"); fi
  echo "render-config: $provider -> $url"
done

"$LLM_GATEWAY_BIN" render --template "$TEMPLATE" --filters "$FILTERS" --out "$OUT_DIR/envoy.yaml" \
  --layout bundle --wasm-dir "$OUT_DIR/wasm" "${sets[@]}"
# The filters' own configuration loading: a bad field is named here, before
# Envoy starts.
"$LLM_GATEWAY_BIN" validate "$OUT_DIR/envoy.yaml" >/dev/null
chmod 0644 "$OUT_DIR/envoy.yaml"
echo "render-config: wrote $OUT_DIR/envoy.yaml"
