"""Serve an exported model: `python -m tfemo.serve --export_dir exported/NAME`.

FastAPI on uvicorn, bound to 127.0.0.1 unless --host says otherwise. Endpoints:
GET /healthz; GET /v1/model; POST /v1/predict (multipart `file` parts, optional `transcript`
fields); WS /v1/stream (16-bit PCM at 16 kHz, answered with the frames each chunk completes,
or for classifiers a sliding window); GET / (a page: upload a file or record from the
microphone). With --token_file every endpoint but /healthz needs `Authorization: Bearer
<token>` (or `?token=` from a browser). See docs/serving.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.flags import add_renamed, config_flags
from tfemo.inference.budget import add_budget_flags, budget_of


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.serve", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter, parents=[config_flags()])
    parser.add_argument("--export_dir", type=Path, default=None,
                        help="an export of tfemo.export (holds tfemo.json and 1/; required)")
    add_renamed(parser, "--model", "--export_dir", "export_dir", Path)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8000, help="port to bind")
    parser.add_argument("--token_file", type=Path, default=None,
                        help="file holding the bearer token every endpoint but /healthz needs")
    parser.add_argument("--max_seconds", type=float, default=600.0,
                        help="longest audio accepted, per file or stream (413 beyond)")
    parser.add_argument("--max_upload_mb", type=float, default=50.0,
                        help="largest request body accepted (413 beyond)")
    parser.add_argument("--chunk_seconds", type=float, default=60.0,
                        help="long files run in chunks of this length (as tfemo.predict)")
    parser.add_argument("--language", default="eng",
                        help="the language of the audio (ISO 639-3): a model that reads words "
                             "gets the recogniser's words of an upload without a transcript "
                             "in English (eng) only")
    parser.add_argument("--alignment", default="aeneas", choices=("aeneas", "uniform"),
                        help="word timings from transcripts, for models that read words")
    parser.add_argument("--window_seconds", type=float, default=2.0,
                        help="classifiers: the sliding window a stream is answered on")
    parser.add_argument("--hop_seconds", type=float, default=0.4,
                        help="classifiers: how far the stream's window moves per answer")
    parser.add_argument("--max_files", type=int, default=8,
                        help="most file parts in one request (413 beyond)")
    parser.add_argument("--body_seconds", type=float, default=10.0,
                        help="a request body must arrive within this many seconds plus one per "
                             "--body_rate_kb it declares, and never stall this long (408)")
    parser.add_argument("--body_rate_kb", type=float, default=64.0,
                        help="the slowest upload rate the body deadline allows, in kB/s")
    parser.add_argument("--idle_seconds", type=float, default=30.0,
                        help="a stream with no message for this long is closed")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="files decoded, featurised and run at once (others wait)")
    add_budget_flags(parser)
    parser.add_argument("--log_level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"))
    args = parse_with_config(parser, argv)
    if args.export_dir is None:
        parser.error("the following arguments are required: --export_dir")
    return args


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvicorn

    from tfemo.core.devices import select_device
    from tfemo.core.errors import UserError
    from tfemo.service.app import create_app
    from tfemo.service.auth import read_token
    from tfemo.service.config import ServiceConfig
    from tfemo.service.ports import check_port_free
    from tfemo.training.exported import is_export

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}", "give a TCP port from 1 to 65535")
    check_port_free(args.host, args.port)
    select_device(-1)
    if not is_export(args.export_dir):
        raise UserError(f"{args.export_dir}: no tfemo.json, not an export of tfemo.export",
                        "make one with python -m tfemo.export --train_dir DIR --export_dir DIR")
    if min(args.max_seconds, args.max_upload_mb, args.window_seconds, args.hop_seconds,
           args.chunk_seconds, args.max_files, args.body_seconds, args.body_rate_kb,
           args.idle_seconds, args.concurrency) <= 0:
        raise UserError("the limits, windows and chunk length must be positive",
                        "see python -m tfemo.serve --help")
    token = read_token(args.token_file) if args.token_file else None
    config = ServiceConfig(model=args.export_dir, max_seconds=args.max_seconds,
                           max_upload_mb=args.max_upload_mb, token=token,
                           chunk_seconds=args.chunk_seconds, alignment=args.alignment,
                           language=args.language,
                           window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                           max_files=args.max_files, body_seconds=args.body_seconds,
                           body_rate_kb=args.body_rate_kb, idle_seconds=args.idle_seconds,
                           concurrency=args.concurrency, budget=budget_of(args))
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level,
                ws_max_size=max(1 << 20, config.max_upload_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
