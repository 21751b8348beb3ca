"""A user's mistake ends every command with one line, `error: <what> (<fix>)`, and exit code 2."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.records_factory import write_synthetic_records


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    """A records folder without a devel portion, a plain file, a missing path, a bad config."""
    root = tmp_path_factory.mktemp("user_errors")
    records = root / "records"
    write_synthetic_records(records, {"train": [30, 20], "test": [25]})
    plain = root / "plain.txt"
    plain.write_text("not a folder\n")
    config = root / "bad.toml"
    config.write_text("hiden = 3\n")
    (root / "empty").mkdir()
    return {"records": records, "file": plain, "missing": root / "missing", "config": config,
            "root": root, "empty": root / "empty"}


CASES = {
    "train: no records": ("train", ["--tfrecords", "{missing}", "--train_dir", "{root}/t1"],
                          "no dataset description"),
    "train: no devel portion": ("train", ["--tfrecords", "{records}", "--train_dir", "{root}/t2",
                                          "--train_portions", "train+devel", "--model",
                                          "gru_regressor"], "no portion 'devel'"),
    "train: unknown config key": ("train", ["--config", "{config}"], "unknown key 'hiden'"),
    "eval: not a train dir": ("eval", ["--train_dir", "{root}", "--tfrecords", "{records}"],
                              "not a train dir"),
    "predict: no audio": ("predict", ["{empty}", "--train_dir", "{root}"],
                          "no audio files found"),
    "predict: not a train dir": ("predict", ["{file}", "--train_dir", "{root}"],
                                 "not a train dir"),
    "predict: output is a file": ("predict", ["{file}", "--output_dir", "{file}"],
                                  "not a folder"),
    "predict: missing input": ("predict", ["{missing}"], "no such file or folder"),
    "make_tfrecords: missing corpus": ("make_tfrecords", ["--corpus", "emodb", "--data_dir",
                                                          "{missing}", "--quiet"],
                                       "missing corpus"),
    "make_tfrecords: output is a file": ("make_tfrecords", ["--output_dir", "{file}", "--quiet"],
                                         "not a folder"),
    "make_tfrecords: unknown features": ("make_tfrecords", ["--features", "loudness",
                                                            "--quiet"], "unknown feature"),
    "train: a URL train dir": ("train", ["--tfrecords", "{records}", "--train_dir",
                                         "gs://bucket/run"], "the train dir is a local folder"),
    "make_tfrecords: a URL with the local runner": (
        "make_tfrecords", ["--output_dir", "gs://bucket/records", "--quiet"],
        "the local runner writes to local folders only (use --runner beam"),
    "make_tfrecords: staging with the local runner": (
        "make_tfrecords", ["--stage_inputs", "yes", "--output_dir", "{root}/s", "--quiet"],
        "--stage_inputs works with --runner beam only"),
    "make_partition: missing corpus": ("make_partition", ["--corpus", "savee", "--data_dir",
                                                          "{missing}"], "missing corpus"),
    "make_partition: bad split": ("make_partition", ["--partition", "fixed-speakers",
                                                     "--split", "nonsense"], "split"),
    "label_report: missing corpus": ("label_report", ["--corpus", "tess", "--data_dir",
                                                      "{missing}"], "missing corpus"),
    "make_gold_standard: missing corpus": ("make_gold_standard", ["--corpus", "recola",
                                                                  "--data_dir", "{missing}"],
                                           "missing corpus"),
    "make_feature_store: missing corpus": ("make_feature_store", ["--corpus", "ravdess",
                                                                  "--data_dir", "{missing}"],
                                           "missing corpus"),
}


def assert_one_line_error(command: str, argv: list[str], expected: str, capsys) -> None:
    """`tfemo.<command>.main(argv)` returns 2 and prints one `error: ...` line with `expected`."""
    main = importlib.import_module(f"tfemo.{command}").main
    try:
        code = main(argv)
    except SystemExit as exit_:  # flag errors end in parse_args, as argparse's own do
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("device:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_error_is_one_line_on_stderr_and_exit_2(case, places, capsys, monkeypatch):
    command, argv, expected = CASES[case]
    monkeypatch.chdir(places["root"])
    assert_one_line_error(command, [arg.format(**places) for arg in argv], expected, capsys)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """EMO-DB fake records with a `generated` portion, and the beta_vae train dir that made it."""
    from tests.corpus_trees import emodb_tree
    from tfemo.generate_samples import main as generate_main
    from tfemo.make_tfrecords import main as make_tfrecords_main

    root = tmp_path_factory.mktemp("generated_user_errors")
    records, vae = root / "records", root / "vae"
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(emodb_tree(root / "emodb")),
                                "--output_dir", str(records), "--embeddings", "none",
                                "--features", "rms,mfcc", "--workers", "1", "--quiet"]) == 0
    assert generate_main(["--tfrecords", str(records), "--train_root", str(vae),
                          "--per_class", "1", "--max_steps", "1", "--batch_size", "2",
                          "--latent_dim", "2", "--hidden", "8", "--blocks", "1"]) == 0
    (root / "a.wav").write_bytes(next((root / "emodb" / "wav").glob("03a01Fa.wav")).read_bytes())
    return {"records": records, "vae": vae, "root": root, "wav": root / "a.wav"}


NO_LABELS = "{vae}: a beta_vae model learns a representation and predicts no labels (encode " \
            "with python -m tfemo.encode_latents --train_dir {vae}"
GENERATED_CASES = {
    "eval: a beta_vae train dir": ("eval", ["--train_dir", "{vae}", "--tfrecords", "{records}",
                                            "--portion", "train"], NO_LABELS),
    "predict: a beta_vae train dir": ("predict", ["{wav}", "--train_dir", "{vae}",
                                                  "--output_dir", "{root}/p"],
                                      NO_LABELS),
    "export: a beta_vae train dir": ("export", ["--train_dir", "{vae}", "--export_dir",
                                                "{root}/export"], NO_LABELS),
    "train: per-speaker statistics of generated samples": (
        "train", ["--tfrecords", "{records}", "--train_dir", "{root}/speaker", "--model",
                  "conv1d", "--normalise", "speaker", "--train_portions", "train+generated",
                  "--max_steps", "1", "--batch_size", "2"],
        "{records}: --normalise speaker with --train_portions train+generated: generated "
        "samples have no speaker"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(GENERATED_CASES))
def test_a_representation_model_or_generated_samples_misused_is_one_line(case, generated,
                                                                         capsys):
    command, argv, expected = GENERATED_CASES[case]
    assert_one_line_error(command, [arg.format(**generated) for arg in argv],
                          expected.format(**generated), capsys)
