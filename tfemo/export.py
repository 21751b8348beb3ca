"""Export a trained model: `python -m tfemo.export --train_dir DIR --export_dir exported/NAME`.

Writes a SavedModel with Keras 3's ExportArchive in `<export_dir>/1/` (endpoint `serve`, and for
recurrent continuous models `serve_chunk` with the recurrent state as explicit input and
output) and `<export_dir>/tfemo.json` beside it: labels, sample rate, frame length, feature families
and their train statistics, the model's name and config, the records' description digest, the
tfemo version and the signatures. It loads with `tf.saved_model.load` and the JSON alone, TF
Serving serves it (`--model_base_path=<export_dir>`), and
`tfemo.serve --export_dir <export_dir>` and `tfemo.predict --train_dir <export_dir>` run it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfemo.core.cli import report_user_errors
from tfemo.core.config_file import parse_with_config
from tfemo.core.flags import add_renamed, config_flags, steps_flags, train_dir_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Every flag, documented in --help."""
    parser = argparse.ArgumentParser(
        prog="python -m tfemo.export", description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        parents=[train_dir_flags("train dir of tfemo.train (for folds, one fold's dir)"),
                 steps_flags(), config_flags()])
    parser.add_argument("--export_dir", type=Path, default=None,
                        help="the export's folder, e.g. exported/NAME (must not hold one yet; "
                             "required)")
    add_renamed(parser, "--output", "--export_dir", "export_dir", Path)
    args = parse_with_config(parser, argv)
    if args.export_dir is None:
        parser.error("the following arguments are required: --export_dir")
    return args


@report_user_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tfemo.core.devices import select_device
    from tfemo.inference.export import export_model
    from tfemo.training.exported import METADATA_FILE

    select_device(-1)
    output = export_model(args.train_dir, args.export_dir, args.steps)
    print(f"exported {args.train_dir} to {output} (SavedModel in {output / '1'}, "
          f"metadata in {output / METADATA_FILE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
