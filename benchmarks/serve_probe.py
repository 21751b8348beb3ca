#!/usr/bin/env python
"""The issue-26 probe of `python -m tfemo.serve`, repeatable: what a few hostile requests cost.

Against a server on 127.0.0.1 (a free port; never another address), started from --tree
(default: this checkout; give another checkout to measure it before a change):
1. a 1 MB transcript with a 1.3 s clip (text model): status, seconds, server CPU and RSS;
2. 8 WAVs that declare 1 Hz in one 9.9 kB body, the client giving up after 2 s: status, server
   CPU in all and after the client had gone;
3. a multipart boundary of 300 characters: status and error;
4. M4A with its index at the end (ffmpeg's default), 30 s: status; and 1 hour: status;
5. the access log at the default level after `?token=` requests (HTTP and WebSocket): how
   often the token appears in it;
6. 200 uploads at 1 byte/s (Content-Length 1,000): how many are still held after 30 s.
Every step is bounded in time; the models are tiny (tests/serve_models.py), as the costs come
from the input, not from the model.

    python benchmarks/serve_probe.py [--tree ../other-checkout] [--models DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TOKEN = "probe-secret-0123456789"


def build_models(work: Path) -> tuple[Path, Path]:
    """(classifier export, text model export): tiny tfemo.train runs, exported."""
    from tests.records_factory import write_synthetic_records
    from tests.serve_models import train_tiny, write_tone_records
    from tfemo import export

    write_tone_records(work / "tones", "categorical")
    write_synthetic_records(work / "words", {"train": [40, 50], "devel": [30], "test": [30]})
    out = []
    for name, records, model, extra in (
            ("classifier", "tones", "conv1d", ("--filters", "8", "--blocks", "1")),
            ("text", "words", "semantic_fusion", ())):
        train_dir = train_tiny(work / records, work / f"{name}-train", model, *extra)
        assert export.main(["--train_dir", str(train_dir), "--export_dir",
                            str(work / name)]) == 0
        out.append(work / name)
    return out[0], out[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`python -m tfemo.serve` from `tree` on 127.0.0.1:<free port>, its output in a file."""

    def __init__(self, tree: Path, model: Path, log: Path) -> None:
        from tests.serve_models import free_port, wait_until_healthy

        self.port = free_port()
        token = log.with_suffix(".token")
        token.write_text(TOKEN)
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tfemo.serve", "--export_dir", str(model), "--port",
             str(self.port), "--token_file", str(token)],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=log.open("wb"), stderr=subprocess.STDOUT)
        if not wait_until_healthy(self.process, self.port, 120):
            self.process.kill()
            raise SystemExit(f"the server did not start: {log.read_text()[-2000:]}")
        self.url = f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def rss(self) -> float:
        return rss_mb(self.process.pid)

    def idle(self, quiet: float = 1.5, limit: float = 120.0) -> None:
        """Wait until the server has used no CPU for `quiet` s (at most `limit` s)."""
        deadline = time.monotonic() + limit
        last = self.cpu()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.cpu()
            if now - last < 0.05 * quiet:
                return
            last = now

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def speech_wav(seconds: float) -> bytes:
    """A tone switched on and off twice a second (aeneas finds "speech" in it)."""
    import soundfile

    t = np.arange(int(seconds * 16000)) / 16000
    audio = 0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio.astype("f4"), 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def one_hertz_wav(frames: int = 600) -> bytes:
    import struct

    data = (np.sin(np.arange(frames) * 0.3) * 8000).astype("<i2").tobytes()
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, 1,
                       1, 1, 2, 2, 16, b"data", len(data)) + data


def post(server: Server, timeout: float, **kwargs) -> tuple[object, float]:
    import httpx

    started = time.perf_counter()
    try:
        response = httpx.post(f"{server.url}/v1/predict", timeout=timeout,
                              headers={"Authorization": f"Bearer {TOKEN}",
                                       **kwargs.pop("headers", {})}, **kwargs)
        status = response.status_code
        try:
            status = f"{status} {response.json().get('error', '')}".strip()
        except ValueError:
            status = f"{status} (not JSON)"
    except httpx.TimeoutException:
        status = "client gave up"
    return status, time.perf_counter() - started


def probe_transcript(server: Server) -> dict:
    server.idle()
    cpu, rss = server.cpu(), server.rss()
    status, seconds = post(server, 120, files=[("file", ("talk.wav", speech_wav(1.3)))],
                           data={"transcript": "a" * 1_000_000})
    server.idle()
    return {"status": status, "seconds": round(seconds, 2),
            "server CPU s": round(server.cpu() - cpu, 2),
            "RSS MB before -> after": f"{rss:.0f} -> {server.rss():.0f}"}


def probe_one_hertz(server: Server) -> dict:
    server.idle()
    files = [("file", (f"f{k}.wav", one_hertz_wav())) for k in range(8)]
    cpu = server.cpu()
    status, _ = post(server, 2.0, files=files)
    gone = server.cpu()
    server.idle()
    body = sum(len(f[1][1]) for f in files)
    return {"status": status, "body kB": round(body / 1000, 1),
            "server CPU s": round(server.cpu() - cpu, 2),
            "after the client left s": round(server.cpu() - gone, 2)}


def probe_boundary(server: Server) -> dict:
    boundary = "b" * 300
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.wav\"\r\n\r\n").encode() + speech_wav(0.5) + \
        f"\r\n--{boundary}--\r\n".encode()
    status, _ = post(server, 30, content=body,
                     headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    return {"status": status}


def m4a(seconds: float, work: Path) -> bytes:
    path = work / f"clip-{seconds:g}.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=300:sample_rate=16000:duration={seconds}", "-c:a", "aac",
                    "-b:a", "24k", str(path)], check=True, timeout=300)
    return path.read_bytes()


def probe_m4a(server: Server, work: Path) -> dict:
    if shutil.which("ffmpeg") is None:
        return {"status": "no ffmpeg"}
    out = {}
    for seconds in (30.0, 3600.0):
        data = m4a(seconds, work)
        out[f"{seconds:g} s ({len(data) // 1000} kB)"] = post(
            server, 120, files=[("file", ("clip.m4a", data, "audio/mp4"))])[0]
    return out


def probe_log(server: Server) -> dict:
    import httpx
    import websockets

    httpx.get(f"{server.url}/v1/model", params={"token": TOKEN}, timeout=30)

    async def stream() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/v1/stream?token={TOKEN}") \
                as ws:
            await ws.recv()

    asyncio.run(stream())
    time.sleep(1.0)
    log = server.log.read_text(errors="replace")
    return {"token in the log": log.count(TOKEN), "requests logged":
            log.count("/v1/model") + log.count("/v1/stream")}


def probe_slow_uploads(server: Server, count: int = 200, seconds: float = 30.0) -> dict:
    """`count` uploads sending one byte a second; how many the server still holds at the end."""
    body = b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: multipart/form-data; boundary=abc\r\nContent-Length: 1000\r\n\r\n")
    sockets = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        connection.sendall(head.encode())
        connection.setblocking(False)
        sockets.append(connection)
    open_ = {s: 0 for s in sockets}
    answered: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < seconds and open_:
        tick = time.monotonic()
        for connection in list(open_):
            sent = open_[connection]
            try:
                connection.send(body[sent % len(body):sent % len(body) + 1])
                open_[connection] = sent + 1
            except OSError:
                open_.pop(connection)
        while time.monotonic() - tick < 1.0:
            ready, _, _ = select.select(list(open_), [], [], max(0.0, 1.0 - (time.monotonic()
                                                                             - tick)))
            for connection in ready:
                try:
                    data = connection.recv(4096)
                except OSError:
                    data = b""
                status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else \
                    "closed"
                answered[status] = answered.get(status, 0) + 1
                open_.pop(connection, None)
            if not open_:
                break
    held = len(open_)
    for connection in sockets:
        connection.close()
    return {"uploads": count, f"held after {seconds:g} s": held, "answered": answered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=REPO,
                        help="checkout whose tfemo.serve is probed")
    parser.add_argument("--models", type=Path, default=None,
                        help="folder with exports 'classifier' and 'text' (else built here)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tfemo-probe-") as folder:
        work = Path(folder)
        if args.models is None:
            classifier, text = build_models(work)
        else:
            classifier, text = args.models / "classifier", args.models / "text"
        results = {}
        server = Server(args.tree.resolve(), text, work / "text.log")
        try:
            results["1 MB transcript"] = probe_transcript(server)
        finally:
            server.stop()
        server = Server(args.tree.resolve(), classifier, work / "classifier.log")
        try:
            results["8 one-hertz files"] = probe_one_hertz(server)
            results["300-character boundary"] = probe_boundary(server)
            results["M4A, index at the end"] = probe_m4a(server, work)
            results["access log"] = probe_log(server)
            results["200 slow uploads"] = probe_slow_uploads(server)
        finally:
            server.stop()
    print(f"tree: {args.tree.resolve()}")
    for name, values in results.items():
        print(f"{name:24} {json.dumps(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
