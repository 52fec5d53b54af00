#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the repository's own
test data: llm-api's golden files, pii-scan's labelled evaluation set and
token-limit's text corpus.

Each seed is the target's header bytes (see the target's doc comment and
fuzz/README.md) followed by a real payload, so that fuzzing starts from
inputs that reach deep into the code. Run it again after the golden files
change; the fuzzer's own finds are never written back here (run.sh fuzzes a
temporary copy).
"""

import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "filters/llm-api/testdata/golden"
CORPUS = ROOT / "fuzz/corpus"

# The index of each golden pair in llm_gateway_fuzz::pairs() (fuzz/src/lib.rs).
PAIRS = {
    "openai_chat_to_anthropic": 0,
    "openai_chat_to_gemini": 1,
    "anthropic_to_openai": 2,
    "anthropic_to_azure": 3,
    "anthropic_to_gemini": 4,
    "openai_embeddings_to_gemini": 5,
    "openai_chat_to_openai": 7,
    "openai_chat_to_azure": 8,
    "openai_embeddings_to_azure": 10,
    "openai_responses_to_azure": 12,
    "anthropic_to_anthropic": 13,
    "gemini_to_gemini": 14,
    "gemini_batch_embed_to_gemini": 16,
    "gemini_embed_to_gemini": 17,
}

# Indexes into translate_response's STATUSES.
STATUS_200, STATUS_429 = 0, 5
# Chunk lengths used by the stream seeds: a mix of tiny and larger cuts.
LENGTHS = bytes([7, 1, 31, 3])
MAX_SEED = 8 * 1024


def write(target, name, data):
    if len(data) > MAX_SEED:
        return
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def golden():
    for pair_dir in sorted(GOLDEN.iterdir()):
        pair = json.loads((pair_dir / "pair.json").read_text())
        index = PAIRS.get(pair_dir.name)
        for case in sorted(p for p in pair_dir.iterdir() if p.is_dir()):
            name = f"{pair_dir.name}__{case.name}"
            request = case / "request.json"
            if request.exists():
                body = request.read_bytes()
                line = f"{pair['method']} {pair['path']}\n".encode()
                write("request_parse", name, line + body)
                if index is not None:
                    write("translate_request", name, bytes([index, 0]) + body)
            if index is None:
                continue
            stream = (case / "stream.sse").exists()
            for file, status in [("response.json", STATUS_200), ("stream.sse", STATUS_200),
                                 ("error.json", STATUS_429)]:
                if (case / file).exists():
                    head = bytes([index, status, int(stream)]) + LENGTHS
                    write("translate_response", f"{name}__{file}", head + (case / file).read_bytes())
            for file in ["stream.sse", "client_stream.sse"]:
                if (case / file).exists():
                    write("sse", f"{name}__{file}", LENGTHS + (case / file).read_bytes())


def pii():
    lines = (ROOT / "filters/pii-scan/eval/pii_eval.jsonl").read_text().splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    group = 6
    for i in range(0, min(len(texts), 96), group):
        text = "\n".join(texts[i:i + group]).encode()
        mode = (i // group) % 2  # every other seed with the custom detectors
        write("pii_engine", f"eval_{i:03d}", bytes([mode]) + LENGTHS + text)
    extra = (
        "key sk-proj-Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z and AKIAZ7Q3XK5LMN2PQR4T "
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8vR2mT4k, \"password\": \"Tr0ub4dor&3\", token=abc123def\n"
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n"
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1 "
        "fe80::1ff:fe23:4567:890a DE89 3704 0044 0532 0130 00 phone: 4155550132 <EMAIL_1> "
        "staff E-1234567 CR4111111111 Project Falcon fax +1 415 555 0132 é€😀"
    )
    write("pii_engine", "secrets", bytes([1]) + LENGTHS + extra.encode())


def tokens():
    corpus = ROOT / "filters/token-limit/testdata/corpus"
    for i, path in enumerate(sorted(corpus.iterdir())):
        # Every fourth file behind the chunking filler (flags 0), the rest alone.
        flags, shift, seed = i % 4, (i * 37) % 256, (i * 71) % 256
        write("token_count", path.stem, bytes([flags, shift, seed]) + path.read_bytes())


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    golden()
    pii()
    tokens()
    for target in sorted(CORPUS.iterdir()):
        files = list(target.iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{target.name}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
