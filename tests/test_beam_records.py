"""--runner beam against the local writer: the same bytes in every file, the same skip reports.

The DirectRunner output equals the local writer's byte for byte: every shard, .progress.json
and description.json (given the same `command`; through the command line only the recorded
command differs, since it names --runner). So does its output to a URL (ram://, TF's in-process
filesystem, stands in for gs://), with and without the items' inputs staged.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

import tfemo.records.beam_pipeline as beam_pipeline
from tfemo.core import storage
from tfemo.core.errors import TfemoError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.beam_pipeline import make_tfrecords_beam
from tfemo.records.build import MakeOptions, make_tfrecords

pytestmark = pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                                reason="the beam extra: pip install 'tfemo[beam]'")

IN_MEMORY = ["--direct_running_mode=in_memory"]  # one process: fast, the same transforms
CASES = {
    "categorical": MakeOptions(task=CATEGORICAL, examples_per_shard=5),  # 8 shards
    "continuous": MakeOptions(task=CONTINUOUS, features=("zcr", "rms")),  # labels, features
}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo") / "tiny")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _url_files(url: str) -> dict[str, bytes]:
    """Every file under a tf.io.gfile URL, relative name -> bytes, read back through gfile."""
    import tensorflow as tf

    found = {}
    for folder, _, names in tf.io.gfile.walk(url):
        for name in names:
            path = storage.join(folder, name)
            found[storage.relative(path, url)] = storage.read_bytes(path)
    return found


def _away_after_staging(monkeypatch, root: Path) -> None:
    """Move the corpus away once the pipeline is built: workers may read staged inputs only."""
    build = beam_pipeline.build_pipeline

    def build_then_hide(*args, **kwargs):
        build(*args, **kwargs)
        root.rename(root.with_name(root.name + "-away"))

    monkeypatch.setattr(beam_pipeline, "build_pipeline", build_then_hide)


@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_runner_writes_the_local_writers_bytes(tiny_root, tmp_path, case):
    corpus, options = DemoCorpus(tiny_root), CASES[case]
    local, _ = make_tfrecords(corpus, tmp_path / "local", options, command=["same"])
    beam, report = make_tfrecords_beam(corpus, tmp_path / "beam", options, command=["same"],
                                       beam_options=IN_MEMORY)
    expected, written = _files(tmp_path / "local"), _files(tmp_path / "beam")
    assert sorted(written) == sorted(expected)
    assert sum(name.endswith(".tfrecord") for name in written) == len(local.partition["files"])
    for name in expected:
        assert written[name] == expected[name], name
    assert beam.to_json() == local.to_json() and list(beam.portions) == list(local.portions)
    assert report.written_shards == len([n for n in written if n.endswith(".tfrecord")])
    assert report.stage_seconds["load"] > 0 and report.stage_seconds["write"] > 0


def test_each_runner_resumes_the_others_output(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    options = MakeOptions(task=CONTINUOUS, examples_per_shard=1)  # 3 recordings: 3 shards
    make_tfrecords_beam(corpus, tmp_path, options, command=["same"], beam_options=IN_MEMORY)
    before = _files(tmp_path)
    _, report = make_tfrecords(corpus, tmp_path, options, command=["same"])
    assert (report.written_shards, report.reused_shards) == (0, 3)
    next(tmp_path.glob("examples/*.tfrecord")).unlink()  # one shard lost: Beam writes only it
    _, report = make_tfrecords_beam(corpus, tmp_path, options, command=["same"],
                                    beam_options=IN_MEMORY)
    assert (report.written_shards, report.reused_shards) == (1, 2)
    assert _files(tmp_path) == before


def _printed_lines(text: str, output: Path) -> list[str]:
    """What the command printed, its output folder replaced and the timing line dropped."""
    return [line for line in text.replace(str(output), "<out>").splitlines()
            if not line.startswith("this run:")]


def test_a_bad_file_is_skipped_and_reported_alike(tiny_root, tmp_path, capsys):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_root, root)
    items = [i for i in DemoCorpus(root).items(CATEGORICAL) if i.portion == "train"]
    items[0].audio_path.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    items[3].audio_path.unlink()
    printed = {}
    outputs = {name: tmp_path / folder  # folder names of one length: the same layout
               for name, folder in (("local", "local"), ("beam", "beam_"), ("staged", "stage"))}
    for runner, output in outputs.items():
        staging = ["--stage_inputs", "yes"] if runner == "staged" else []
        code = make_tfrecords_main(["--data_dir", str(root), "--task", CATEGORICAL,
                                    "--examples_per_shard", "5", "--output_dir", str(output),
                                    "--workers", "1", "--quiet", "--runner",
                                    "local" if runner == "local" else "beam", *staging,
                                    f"--beam_options={IN_MEMORY[0]}"])
        assert code == 0
        printed[runner] = _printed_lines(capsys.readouterr().out, output)
    assert printed["beam"] == printed["local"]
    assert printed["staged"] == printed["local"]  # the corpus's paths, not the staged copies
    text = "".join(printed["local"])
    assert f"skipped {items[0].audio_path}: corrupt audio" in text
    assert f"skipped {items[3].audio_path}: missing audio" in text
    expected = _files(outputs["local"])
    for written in (_files(outputs["beam"]), _files(outputs["staged"])):
        assert sorted(written) == sorted(expected)
        for name in expected:
            if name in ("description.json", "records.json"):  # the command names the runner
                local_json, beam_json = (json.loads(d[name]) for d in (expected, written))
                assert local_json.pop("command") != beam_json.pop("command")
                assert beam_json == local_json
            else:
                assert written[name] == expected[name], name
    assert json.loads(expected["description.json"])["skipped"] == {
        "train": {"corrupt audio": 1, "missing audio": 1}}


def test_strict_is_refused_and_an_unknown_runner_is_a_usage_error(tiny_root, tmp_path):
    corpus = DemoCorpus(tiny_root)
    with pytest.raises(TfemoError, match="--strict works with --runner local only"):
        make_tfrecords_beam(corpus, tmp_path, CASES["categorical"], strict=True)
    with pytest.raises(SystemExit):
        make_tfrecords_main(["--data_dir", str(tiny_root), "--runner", "spark"])


@pytest.mark.slow
def test_two_direct_runner_processes_write_the_same_bytes(tiny_root, tmp_path):
    corpus, options = DemoCorpus(tiny_root), CASES["categorical"]
    make_tfrecords(corpus, tmp_path / "local", options, workers=2, command=["same"])
    _, report = make_tfrecords_beam(corpus, tmp_path / "beam", options, workers=2,
                                    command=["same"])  # multi_processing, 2 SDK workers
    assert report.written_shards == 8  # 36 utterances, 5 to a shard
    assert _files(tmp_path / "beam") == _files(tmp_path / "local")


@pytest.mark.parametrize("case,stage", [("categorical", False), ("continuous", True)])
def test_a_url_output_holds_the_local_writers_bytes(tiny_root, tmp_path, ram, monkeypatch,
                                                    case, stage):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_root, root)
    corpus, options = DemoCorpus(root), CASES[case]
    local, _ = make_tfrecords(corpus, tmp_path / "local", options, command=["same"])
    if stage:  # the continuous case has label files too (read through Item.load_trace)
        _away_after_staging(monkeypatch, root)
    beam, report = make_tfrecords_beam(corpus, ram, options, command=["same"],
                                       beam_options=IN_MEMORY, stage_inputs=stage)
    assert not root.exists() if stage else root.exists()
    expected, written = _files(tmp_path / "local"), _url_files(ram)
    assert sorted(written) == sorted(expected)  # no temp or staging file left
    for name in expected:
        assert written[name] == expected[name], name
    assert beam.to_json() == local.to_json() and report.written_shards == \
        len(local.partition["files"])
    assert not any(local.skipped.values())


def test_unstaged_workers_cannot_build_a_hidden_corpus(tiny_root, tmp_path, ram, monkeypatch):
    root = tmp_path / "corpus"
    shutil.copytree(tiny_root, root)
    _away_after_staging(monkeypatch, root)  # the control: without staging, every item is lost
    beam, _ = make_tfrecords_beam(DemoCorpus(root), ram, CASES["continuous"], command=["same"],
                                  beam_options=IN_MEMORY, stage_inputs=False)
    assert sum(p["examples"] for p in beam.portions.values()) == 0
    assert set(beam.skipped["train"]) == {"missing audio"}


def test_a_url_output_resumes_and_clears_what_a_killed_run_left(tiny_root, tmp_path, ram,
                                                                capsys):
    corpus = DemoCorpus(tiny_root)
    options = MakeOptions(task=CONTINUOUS, examples_per_shard=1)  # 3 recordings: 3 shards
    make_tfrecords(corpus, tmp_path, options, command=["same"])
    assert make_tfrecords_main(["--data_dir", str(tiny_root), "--task", CONTINUOUS,
                                "--examples_per_shard", "1",
                                "--output_dir", ram + "/", "--runner", "beam", "--quiet",
                                "--workers", "1", f"--beam_options={IN_MEMORY[0]}"]) == 0
    assert f"{ram}/description.json" in capsys.readouterr().out  # "//" kept
    expected, written = _files(tmp_path), _url_files(ram)
    assert sorted(written) == sorted(expected)
    for name in expected:
        if name in ("description.json", "records.json"):  # the recorded command differs
            local_json, beam_json = (json.loads(d[name]) for d in (expected, written))
            assert ram + "/" in beam_json.pop("command") and local_json.pop("command")
            assert beam_json == local_json
        else:
            assert written[name] == expected[name], name
    _, report = make_tfrecords_beam(corpus, ram, options, command=["same"],
                                    beam_options=IN_MEMORY)
    assert (report.written_shards, report.reused_shards) == (0, 3)
    shard = storage.glob(storage.join(ram, "examples"), "*.tfrecord")[1]
    storage.remove(shard)  # one shard lost, a temp file and a staging folder left behind
    storage.write_bytes(storage.join(ram, "examples", ".x.tfrecord.tmp-7"), b"half")
    storage.write_bytes(storage.join(ram, ".beam-staging-7", "items-000000.pkl"), b"old")
    _, report = make_tfrecords_beam(corpus, ram, options, command=["same"],
                                    beam_options=IN_MEMORY)
    assert (report.written_shards, report.reused_shards) == (1, 2)
    assert _url_files(ram) == _files(tmp_path)
