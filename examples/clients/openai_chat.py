"""The official OpenAI SDK pointed at the gateway: only base_url changes."""
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ.get("GATEWAY", "http://127.0.0.1:10000") + "/v1", api_key="demo-key")
stream = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "user", "content": "Hello"}],
    stream=True,
)
print("".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))
