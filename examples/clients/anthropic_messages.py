"""The official Anthropic SDK pointed at the gateway: only base_url changes."""
import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ.get("GATEWAY", "http://127.0.0.1:10000"), api_key="demo-key")
message = client.messages.create(
    model="claude-sonnet-4-5",
    max_tokens=256,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text)
