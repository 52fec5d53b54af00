#!/usr/bin/env bash
# A chat completion through the gateway with curl.
set -euo pipefail
GATEWAY=${GATEWAY:-http://127.0.0.1:10000}
curl -sS "$GATEWAY/v1/chat/completions" \
  -H 'Authorization: Bearer demo-key' \
  -H 'content-type: application/json' \
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'
echo
