#!/usr/bin/env python
"""Load test of `python -m tfemo.serve` on localhost (issue 12): bounded in requests and time.

1. POST /v1/predict with 5 s clips at 1, 4 and 16 concurrent clients: requests per second and
   p50 / p95 / p99 latency (each level stops after --requests requests or --seconds seconds).
2. The same clips against a baseline served by this script (`--baseline_server`): like the
   service tfemo replaces, it writes each upload to a temporary file and rebuilds and restores
   the model from the checkpoint for every request.
3. WS /v1/stream with 200 ms chunks sent in real time at 1, 8, 16 and 32 concurrent streams of
   --stream_seconds each: p95 latency per chunk, and how many streams kept up with real time
   (every chunk answered before the next one was due, i.e. within 200 ms).
4. The service's resident memory (VmRSS) after 100 and after 2,000 requests.

Without --classifier/--regressor it trains default-size models (conv1d 128 x 3 blocks on the
full feature set of benchmarks/classify.py; gru_regressor 128 x 2) for a few steps on tone
records and exports them: speed does not depend on what the weights learnt. Every server and
client runs on 127.0.0.1 only.

    python benchmarks/serve.py [--classifier exported/A --regressor exported/B]
"""


import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FEATURES = ("zcr", "rms", "mfcc", "chroma", "mel_db", "contrast", "entropy", "pitch")
CHUNK_SECONDS = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; the defaults keep a full run to a few minutes."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", type=Path, help="export of a classifier")
    parser.add_argument("--checkpoint", type=Path,
                        help="train dir of --classifier, for the per-request-reload baseline")
    parser.add_argument("--regressor", type=Path, help="export of a gru_regressor (streams)")
    parser.add_argument("--requests", type=int, default=400, help="cap per concurrency level")
    parser.add_argument("--seconds", type=float, default=15.0, help="cap per level")
    parser.add_argument("--baseline_requests", type=int, default=20)
    parser.add_argument("--stream_seconds", type=float, default=10.0)
    parser.add_argument("--memory_requests", type=int, default=2000)
    parser.add_argument("--memory_seconds", type=float, default=180.0,
                        help="cap on the 2,000-request memory run")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--baseline_server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- the baseline: reload per request, as the upstream Flask service did -------------------

def baseline_app(train_dir: Path):
    """An app that writes each upload to disk and restores the checkpoint for every request."""
    from fastapi import FastAPI, Request
    from starlette.concurrency import run_in_threadpool

    from tfemo.inference.predictor import Predictor

    app = FastAPI()

    def label(data: bytes) -> dict:
        with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
            handle.write(data)
            handle.flush()
            predictor = Predictor(train_dir)  # model_from_config + checkpoint restore
            result = predictor.predict(Path(handle.name))
        return {"probabilities": [float(p) for p in result.probabilities]}

    @app.post("/v1/predict")
    async def predict(request: Request) -> dict:
        form = await request.form()
        return await run_in_threadpool(label, await form["file"].read())

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def run_baseline_server(train_dir: Path, port: int) -> None:
    import uvicorn

    from tfemo.core.devices import select_device

    select_device(-1)
    uvicorn.run(baseline_app(train_dir), host="127.0.0.1", port=port, log_level="warning")


# --- models and clips ----------------------------------------------------------------------

def build_models(work: Path) -> tuple[Path, Path, Path]:
    """Default-size classifier and regressor, trained a few steps on tones and exported."""
    from tests.serve_models import write_tone_records
    from tfemo import export, train

    common = ["--batch_size", "4", "--sequence_length", "50", "--max_steps", "3",
              "--save_interval_secs", "0", "--verbose", "0", "--device", "-1"]
    out = []
    for task, model in (("categorical", "conv1d"), ("continuous", "gru_regressor")):
        records, train_dir = work / f"{task}-records", work / f"{task}-train"
        write_tone_records(records, task, families=FEATURES)
        assert train.main(["--tfrecords", str(records), "--train_dir", str(train_dir),
                           "--model", model, *common]) == 0
        assert export.main(["--train_dir", str(train_dir), "--export_dir",
                            str(work / f"{task}-export")]) == 0
        out += [work / f"{task}-export", train_dir]
    return out[0], out[1], out[2]


def clips(count: int = 8, seconds: float = 5.0) -> list[bytes]:
    """WAV bytes of `count` different 5 s noisy tones with a changing loudness."""
    import soundfile

    rng = np.random.default_rng(0)
    out = []
    t = np.arange(int(seconds * 16000)) / 16000
    for _ in range(count):
        envelope = 0.1 + 0.3 * np.abs(np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
        audio = envelope * np.sin(2 * np.pi * rng.uniform(120, 400) * t)
        audio += 0.01 * rng.standard_normal(len(t))
        buffer = io.BytesIO()
        soundfile.write(buffer, audio.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
        out.append(buffer.getvalue())
    return out


# --- load ----------------------------------------------------------------------------------

def percentiles(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    values = np.array(latencies) * 1000
    return {f"p{q}_ms": round(float(np.percentile(values, q)), 1) for q in (50, 95, 99)}


async def load(url: str, data: list[bytes], clients: int, requests: int,
               seconds: float) -> dict:
    """`clients` concurrent clients posting clips until `requests` are done or time is up."""
    import httpx

    latencies: list[float] = []
    failures = 0
    issued = 0
    deadline = time.monotonic() + seconds

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal issued, failures
        while issued < requests and time.monotonic() < deadline:
            issued += 1
            clip = data[issued % len(data)]
            started = time.perf_counter()
            response = await http.post(f"{url}/v1/predict", timeout=300,
                                       files=[("file", ("clip.wav", clip, "audio/wav"))])
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures += 1
                if failures == 1:
                    print(f"failed: {response.status_code} {response.text[:200]}")

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(clients)))
        wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "failures": failures,
            "rps": round(len(latencies) / wall, 2), **percentiles(latencies)}


async def streams(url: str, pcm: bytes, count: int) -> dict:
    """`count` concurrent real-time streams of 200 ms chunks: chunk latencies and lag."""
    import websockets

    chunk = int(CHUNK_SECONDS * 16000) * 2
    pieces = [pcm[i:i + chunk] for i in range(0, len(pcm), chunk)]

    async def one() -> tuple[list[float], bool]:
        sent: list[float] = []
        latencies: list[float] = []
        async with websockets.connect(url.replace("http", "ws") + "/v1/stream",
                                      max_size=None) as ws:
            await ws.recv()  # ready

            async def receive() -> None:
                for _ in pieces:
                    json.loads(await ws.recv())
                    latencies.append(time.perf_counter() - sent[len(latencies)])

            receiver = asyncio.create_task(receive())
            start = time.perf_counter()
            for k, piece in enumerate(pieces):
                # a microphone delivers chunk k once its 200 ms have been recorded
                await asyncio.sleep(max(0.0, start + (k + 1) * CHUNK_SECONDS
                                        - time.perf_counter()))
                sent.append(time.perf_counter())
                await ws.send(piece)
            await receiver
            await ws.send(json.dumps({"type": "end"}))
            await ws.recv(), await ws.recv()
        return latencies, max(latencies) <= CHUNK_SECONDS

    results = await asyncio.gather(*(one() for _ in range(count)))
    latencies = [x for lat, _ in results for x in lat]
    return {"streams": count, "chunks": len(latencies),
            "p95_chunk_ms": round(float(np.percentile(np.array(latencies) * 1000, 95)), 1),
            "max_chunk_ms": round(float(np.max(latencies) * 1000), 1),
            "kept_up": sum(ok for _, ok in results)}


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(command: list[str], port: int):
    """A server process on 127.0.0.1:port, once /healthz answers."""
    import subprocess

    from tests.serve_models import wait_until_healthy

    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if wait_until_healthy(process, port, 120):
        return process
    if process.poll() is not None:
        raise SystemExit(f"server exited: {' '.join(command)}")
    process.kill()
    raise SystemExit("server did not start")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.baseline_server:
        run_baseline_server(args.checkpoint, args.port)
        return 0
    from rich.console import Console

    console = Console()
    with tempfile.TemporaryDirectory(prefix="tfemo-serve-bench-") as work:
        if args.classifier is None or args.regressor is None or args.checkpoint is None:
            console.print("building default-size models on tone records ...")
            args.classifier, args.checkpoint, args.regressor = build_models(Path(work))
        return measure(args, console)


def measure(args: argparse.Namespace, console) -> int:
    """Every measurement, the tables and the JSON report."""
    from rich.table import Table

    from tests.serve_models import free_port, stop_server

    data = clips()
    report: dict = {"cpus": len(os.sched_getaffinity(0))}

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start([sys.executable, "-m", "tfemo.serve", "--export_dir", str(args.classifier),
                    "--port", str(port), "--log_level", "warning"], port)
    try:
        # memory first, on the fresh server: after 100 requests, then after 2,000 in all
        first = asyncio.run(load(url, data, 4, 100, args.memory_seconds))
        rss_100 = rss_mb(server.pid)
        rest = asyncio.run(load(url, data, 4, args.memory_requests - first["requests"],
                                args.memory_seconds))
        rss_2000 = rss_mb(server.pid)
        report["memory"] = {"rss_mb_after_100": round(rss_100, 1),
                            "rss_mb_after_2000": round(rss_2000, 1),
                            "growth_percent": round(100 * (rss_2000 / rss_100 - 1), 2),
                            "requests": first["requests"] + rest["requests"],
                            "failures": first["failures"] + rest["failures"]}
        report["predict"] = [asyncio.run(load(url, data, c, args.requests, args.seconds))
                             for c in (1, 4, 16)]
    finally:
        stop_server(server)

    port = free_port()
    baseline = start([sys.executable, str(Path(__file__).resolve()), "--baseline_server",
                      "--checkpoint", str(args.checkpoint), "--port", str(port)], port)
    try:
        url = f"http://127.0.0.1:{port}"
        report["baseline"] = [asyncio.run(load(url, data, c, args.baseline_requests,
                                               args.seconds * 4)) for c in (1, 4)]
    finally:
        stop_server(baseline)

    rng = np.random.default_rng(1)
    t = np.arange(int(args.stream_seconds * 16000)) / 16000
    audio = (0.1 + 0.3 * np.abs(np.sin(2 * np.pi * 0.3 * t))) * np.sin(2 * np.pi * 220 * t)
    audio += 0.01 * rng.standard_normal(len(t))
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    port = free_port()
    server = start([sys.executable, "-m", "tfemo.serve", "--export_dir", str(args.regressor),
                    "--port", str(port), "--log_level", "warning"], port)
    try:
        url = f"http://127.0.0.1:{port}"
        report["stream"] = [asyncio.run(streams(url, pcm, n)) for n in (1, 8, 16, 32)]
    finally:
        stop_server(server)

    table = Table(title=f"tfemo.serve on {report['cpus']} cores, 5 s clips (localhost)")
    for column in ("what", "concurrency", "requests", "rps", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "what" else "left")
    for name, rows in (("service", report["predict"]), ("baseline (reload)", report["baseline"])):
        for r in rows:
            table.add_row(name, str(r["clients"]), str(r["requests"]), f"{r['rps']:.2f}",
                          f"{r['p50_ms']:.0f}", f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}")
    console.print(table)
    streams_table = Table(title=f"streams of {args.stream_seconds:g} s in 200 ms chunks")
    for column in ("streams", "chunks", "p95 chunk ms", "max chunk ms", "kept up"):
        streams_table.add_column(column, justify="right")
    for r in report["stream"]:
        streams_table.add_row(str(r["streams"]), str(r["chunks"]), f"{r['p95_chunk_ms']:.0f}",
                              f"{r['max_chunk_ms']:.0f}", f"{r['kept_up']}/{r['streams']}")
    console.print(streams_table)
    memory = report["memory"]
    speedup = report["predict"][1]["rps"] / max(report["baseline"][1]["rps"], 1e-9)
    console.print(f"throughput vs baseline at 4 clients: {speedup:.1f} x; RSS after 100 "
                  f"requests {memory['rss_mb_after_100']} MB, after 2,000 "
                  f"{memory['rss_mb_after_2000']} MB after {memory['requests']} "
                  f"({memory['growth_percent']:+.2f} %)")
    report["speedup_at_4_clients"] = round(speedup, 1)
    print(json.dumps(report))
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
