"""Export a trained model: `python -m tfemo.export --checkpoint DIR --output exported/NAME`.

Writes a SavedModel with Keras 3's ExportArchive in `<output>/1/` (endpoint `serve`, and for
recurrent continuous models `serve_chunk` with the recurrent state as explicit input and
output) and `<output>/tfemo.json` beside it: labels, sample rate, frame length, feature families
and their train statistics, the model's name and config, the records' description digest, the
tfemo version and the signatures. It loads with `tf.saved_model.load` and the JSON alone, TF
Serving serves it (`--model_base_path=<output>`), and `tfemo.serve --model <output>` and
`tfemo.predict --checkpoint <output>` run it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfemo.core.cli import report_user_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.export", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints"),
                        help="train dir of tfemo.train (for folds, one fold's dir)")
    parser.add_argument("--steps", default="latest", help="checkpoint step, or 'latest'")
    parser.add_argument("--output", type=Path, required=True,
                        help="the export's folder, e.g. exported/NAME (must not hold one yet)")
    return parser.parse_args(argv)


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.core.devices import select_device
    from tfemo.inference.export import export_model
    from tfemo.training.exported import METADATA_FILE

    select_device(-1)
    output = export_model(args.checkpoint, args.output, args.steps)
    print(f"exported {args.checkpoint} to {output} (SavedModel in {output / '1'}, "
          f"metadata in {output / METADATA_FILE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
