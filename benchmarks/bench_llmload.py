"""The LLM load driver's own cost: requests/s of scaffold.llmload against a plain streaming
client, both on the same local OpenAI-style streaming server, printed as a ratio.

    python benchmarks/bench_llmload.py [--runs N] [--seconds S] [--concurrency C] [--tokens T]

No Docker: the server is a tiny asyncio HTTP server in a thread that answers every POST with
T chat-completion chunks, the usage and `data: [DONE]` (server-sent events). Both clients
use httpx with the same concurrency and timeout:

- llmload: `scaffold.llmload.run_levels` (parses every event, times the first token, reads
  the usage, keeps per-request samples);
- plain: the least a streaming client does (read lines until `data: [DONE]`).

Target: llmload >= 0.90x plain (measuring time to first token and tokens costs little, so
the numbers `scaffold loadtest` reports are the server's, not the driver's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _events(tokens: int) -> bytes:
    chunk = {"object": "chat.completion.chunk", "choices": [{"delta": {"content": "tok"}}]}
    usage = {
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"completion_tokens": tokens},
    }
    lines = [f"data: {json.dumps(chunk)}\n\n"] * tokens
    lines += [f"data: {json.dumps(usage)}\n\n", "data: [DONE]\n\n"]
    return "".join(lines).encode()


class Server:
    """An OpenAI-style streaming endpoint on 127.0.0.1 (asyncio, in a thread)."""

    def __init__(self, tokens: int) -> None:
        self.body = _events(tokens)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


def _llmload_rps(url: str, body: bytes, concurrency: int, seconds: float) -> float:
    from scaffold.llmload import run_levels

    levels, _ = run_levels(
        url,
        body,
        levels=[concurrency],
        seconds_per_level=seconds,
        max_requests_per_level=1_000_000,
        request_timeout_ms=5000,
    )
    level = levels[0]
    if level.failed:
        raise RuntimeError(f"{level.failed} of {level.requests} failed: {level.errors}")
    return level.rps


async def _plain(url: str, body: bytes, concurrency: int, seconds: float) -> float:
    import httpx

    done = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=5.0, trust_env=False) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with client.stream("POST", url, content=body) as answer:
                    async for line in answer.aiter_lines():
                        if line == "data: [DONE]":
                            break
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from scaffold.llmload import streaming_body

    server = Server(args.tokens)
    body, _ = streaming_body(b'{"model": "m", "messages": [], "max_tokens": 32}')
    ratios = []
    for run in range(1, args.runs + 1):
        # Alternate which client goes first, so warm-up favours neither.
        if run % 2:
            plain = asyncio.run(_plain(server.url, body, args.concurrency, args.seconds))
            measured = _llmload_rps(server.url, body, args.concurrency, args.seconds)
        else:
            measured = _llmload_rps(server.url, body, args.concurrency, args.seconds)
            plain = asyncio.run(_plain(server.url, body, args.concurrency, args.seconds))
        ratios.append(measured / plain)
        print(
            f"run {run}: llmload {measured:8.1f} req/s   plain {plain:8.1f} req/s   "
            f"ratio {measured / plain:.2f}x"
        )
    median = statistics.median(ratios)
    print(
        f"llmload vs plain streaming client ({args.concurrency} concurrent, {args.tokens} "
        f"tokens per answer): median {median:.2f}x (target >= 0.90x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
