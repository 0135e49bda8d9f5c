"""Cost of masking secrets on every printed line (scaffold.redact), as a ratio.

    python benchmarks/bench_redact.py [--lines N] [--runs N]

Every line scaffold prints (build output with -v, container logs, `scaffold logs`) goes
through `redact`, which masks a known key in every encoding and key-like values. The anchor
is the plain masking it replaced: `str.replace` of the raw key and its `\\/` and `%2F`
forms. Printed: microseconds per line for both on realistic log lines with one registered
key (target: under 100 us per line, so 10,000 lines of a verbose build cost under a second;
the ratio is shown for the record).
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.parse

KEY = "Zm9vYmFy+Kx7/q9Lr0Wz3Qm1nT8vB2cD4eF6gH8iJ0k=sEcReT"
LINES = [
    "Step 5/11 : RUN pip install --no-cache-dir -r /tmp/requirements.txt",
    " ---> Running in 3f2a9c1d4b5e",
    "Collecting scikit-learn==1.9.1 (from -r /tmp/requirements.txt (line 1))",
    "2026-01-01 12:00:00,000 [INFO ] W-9000-model_1 org.pytorch.serve.wlm.WorkerThread - "
    "Backend response time: 3",
    'INFO:     127.0.0.1:51234 - "POST /score HTTP/1.1" 200 OK',
    "Azure ML Inferencing HTTP server v1.5.1 listening on 0.0.0.0:5001",
    f'DEBUG echo {{"key": "{KEY.replace("/", chr(92) + "u002f")}"}}',
    "I0101 12:00:00.000000 1 model_lifecycle_manager.cc:123] successfully loaded 'half_plus_two'",
]


def _anchor(text: str) -> str:
    for form in {KEY, KEY.replace("/", "\\/"), urllib.parse.quote(KEY, safe="")}:
        text = text.replace(form, "***")
    return text


def _per_line(function: object, lines: list[str], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for line in lines:
            function(line)  # type: ignore[operator]
        timings.append((time.perf_counter() - started) / len(lines))
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from scaffold import redact

    redact.register_secret(KEY)
    lines = (LINES * (args.lines // len(LINES) + 1))[: args.lines]
    assert KEY[10:20] not in redact.redact(LINES[6])  # the escaped key is masked
    ours = _per_line(redact.redact, lines, args.runs)
    plain = _per_line(_anchor, lines, args.runs)
    print(f"plain str.replace   {plain * 1e6:8.2f} us/line")
    print(
        f"scaffold.redact     {ours * 1e6:8.2f} us/line   ratio {ours / plain:6.1f}x  "
        f"(target < 100 us/line)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
