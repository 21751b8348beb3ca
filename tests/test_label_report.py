"""Label distribution report on the tiny demo corpus: counts, statistics, files, bad labels."""

from __future__ import annotations

import dataclasses
import shutil
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfemo.corpora.base import CATEGORICAL, CONTINUOUS
from tfemo.corpora.demo import TINY_CONFIG, DemoCorpus, ensure_demo_corpus
from tfemo.label_report import main as label_report_main
from tfemo.labels.report import (
    NORMALISED,
    PERCENTILES,
    RAW,
    build_report,
    class_counts,
    class_order,
    collect_frames,
    fit_normalisation,
    plot_class_shares,
    plot_histograms,
    portion_order,
    summary_statistics,
    write_figure,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> DemoCorpus:
    return DemoCorpus(ensure_demo_corpus(TINY_CONFIG, root=tmp_path_factory.mktemp("demo")
                                         / "tiny"))


@pytest.fixture(scope="module")
def traces(corpus) -> dict[str, np.ndarray]:
    """Every frame of every session per portion, read directly."""
    parts: dict[str, list[np.ndarray]] = {}
    for item in corpus.items(CONTINUOUS):
        parts.setdefault(item.portion, []).append(item.load_trace().values.astype(np.float64))
    return {portion: np.concatenate(values) for portion, values in parts.items()}


@pytest.fixture()
def damaged(corpus, tmp_path) -> tuple[DemoCorpus, Path]:
    """A copy of the corpus (without audio) whose devel session has a corrupt labels file."""
    root = tmp_path / "damaged"
    shutil.copytree(corpus.root, root, ignore=shutil.ignore_patterns("*.wav"))
    victim = next(i for i in corpus.items(CONTINUOUS) if i.portion == "devel")
    labels = root / victim.label_files[0].relative_to(corpus.root)
    labels.write_text("time,arousal,valence\n0.0,0.1,oops\n0.04,0.2\n")
    return DemoCorpus(root), labels


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_order_helpers():
    assert portion_order(["test", "extra", "train", "b-side", "devel", "train"]) == [
        "train", "devel", "test", "b-side", "extra"]
    assert class_order(["sad", "happy"], ["happy", "zzz", "angry", "sad"]) == [
        "sad", "happy", "angry", "zzz"]


def test_class_counts_match_a_direct_count(corpus):
    items = corpus.items(CATEGORICAL)
    table = class_counts(items, corpus.label_names(CATEGORICAL))
    assert list(table.columns) == ["portion", "class", "count", "share"]
    direct = Counter((item.portion, item.label) for item in items)
    assert {(r.portion, r["class"]): r["count"] for _, r in table.iterrows()} == direct
    assert list(dict.fromkeys(table["portion"])) == ["train", "devel", "test"]
    assert list(dict.fromkeys(table["class"])) == list(corpus.label_names(CATEGORICAL))
    sums = table.groupby("portion")["share"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)


def test_class_counts_of_unbalanced_portions(corpus):
    items = corpus.items(CATEGORICAL)
    kept = [i for i in items if not (i.portion == "devel" and i.label in ("sad", "angry"))]
    kept.append(dataclasses.replace(items[0], id="odd", label="bored", portion="extra"))
    table = class_counts(kept, corpus.label_names(CATEGORICAL))
    assert list(dict.fromkeys(table["portion"])) == ["train", "devel", "test", "extra"]
    assert list(dict.fromkeys(table["class"]))[-1] == "bored"  # unlisted labels come last
    devel = table[table["portion"] == "devel"].set_index("class")
    assert devel.at["sad", "count"] == 0 and devel.at["angry", "count"] == 0
    assert devel.at["happy", "share"] == pytest.approx(2 / 8)
    extra = table[table["portion"] == "extra"].set_index("class")
    assert extra.at["bored", "share"] == 1.0 and extra["count"].sum() == 1
    np.testing.assert_allclose(table.groupby("portion")["share"].sum().to_numpy(), 1.0)
    with pytest.raises(ValueError, match="no class label"):
        class_counts([dataclasses.replace(items[0], label=None)], ["happy"])


def test_summary_statistics_match_numpy(corpus, traces):
    frames = collect_frames(corpus.items(CONTINUOUS), corpus.label_names(CONTINUOUS))
    assert frames.skips == [] and list(frames.values) == ["train", "devel", "test"]
    table = summary_statistics(frames)
    assert len(table) == 2 * 2 * 3  # scales x dimensions x portions
    raw = table[table["scale"] == RAW].set_index(["portion", "dimension"])
    for portion, values in traces.items():
        for d, dimension in enumerate(corpus.label_names(CONTINUOUS)):
            row = raw.loc[(portion, dimension)]
            column = values[:, d]
            assert row["count"] == len(column) and row["items"] == 1
            assert row["mean"] == pytest.approx(column.mean(), abs=1e-9)
            assert row["std"] == pytest.approx(column.std(), abs=1e-9)
            assert row["min"] == pytest.approx(column.min())
            assert row["max"] == pytest.approx(column.max())
            for q in PERCENTILES:
                assert row[f"p{q}"] == pytest.approx(np.percentile(column, q), abs=1e-9)


def test_normalised_with_train_statistics_only(corpus, traces):
    frames = collect_frames(corpus.items(CONTINUOUS), corpus.label_names(CONTINUOUS))
    fit = fit_normalisation(frames)
    np.testing.assert_allclose(fit.mean, traces["train"].mean(axis=0))
    np.testing.assert_allclose(fit.std, traces["train"].std(axis=0))
    normalised = summary_statistics(frames, fit)
    normalised = normalised[normalised["scale"] == NORMALISED].set_index(["portion", "dimension"])
    for d, dimension in enumerate(corpus.label_names(CONTINUOUS)):
        train = normalised.loc[("train", dimension)]
        assert train["mean"] == pytest.approx(0.0, abs=1e-9)
        assert train["std"] == pytest.approx(1.0, abs=1e-9)
        devel = normalised.loc[("devel", dimension)]
        expected = (traces["devel"][:, d] - fit.mean[d]) / fit.std[d]
        assert devel["mean"] == pytest.approx(expected.mean(), abs=1e-9)
        assert devel["std"] == pytest.approx(expected.std(), abs=1e-9)


@pytest.mark.parametrize("task, csv_name, png_name", [
    (CATEGORICAL, "counts.csv", "class_shares.png"),
    (CONTINUOUS, "summary.csv", "histograms.png"),
])
def test_write_report_files(corpus, tmp_path, task, csv_name, png_name):
    report = build_report(corpus, task)
    written = write_report(report, tmp_path / "out")
    assert written == {"csv": tmp_path / "out" / csv_name, "png": tmp_path / "out" / png_name}
    back = pd.read_csv(written["csv"])
    assert list(back.columns) == list(report.table.columns)
    numeric = report.table.select_dtypes("number").columns
    np.testing.assert_allclose(back[numeric].to_numpy(), report.table[numeric].to_numpy(),
                               rtol=1e-8, atol=1e-12)
    width, height = _png_size(written["png"])
    assert width >= 400 and height >= 300 and written["png"].stat().st_size > 10_000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([csv_name, png_name])
    first = {k: p.read_bytes() for k, p in written.items()}
    write_report(build_report(corpus, task), tmp_path / "out")
    assert {k: p.read_bytes() for k, p in written.items()} == first  # deterministic


def test_plots_without_files(corpus, tmp_path):
    counts = class_counts(corpus.items(CATEGORICAL), corpus.label_names(CATEGORICAL))
    bars = plot_class_shares(counts, title="shares")
    assert len(bars.axes) == 1 and len(bars.axes[0].patches) == 6 * 3
    frames = collect_frames(corpus.items(CONTINUOUS), corpus.label_names(CONTINUOUS))
    histograms = plot_histograms(frames, bins=10)
    assert [a.get_title() for a in histograms.axes] == ["arousal", "valence"]
    assert _png_size(write_figure(histograms, tmp_path / "h.png"))[0] > 400


def test_corrupt_labels_are_reported_and_skipped(damaged, traces):
    corpus, labels = damaged
    report = build_report(corpus, CONTINUOUS)
    assert len(report.skips) == 1
    skip = report.skips[0]
    assert skip.path == str(labels) and skip.reason == "bad labels" and skip.detail
    assert str(labels) in str(skip)
    assert set(report.table["portion"]) == {"train", "test"}
    raw = report.table[report.table["scale"] == RAW].set_index(["portion", "dimension"])
    assert raw.at[("train", "arousal"), "mean"] == pytest.approx(traces["train"][:, 0].mean())


def test_command_line(damaged, tmp_path, capsys):
    corpus, labels = damaged
    out = tmp_path / "cli"
    assert label_report_main(["--data_dir", str(corpus.root), "--task", CONTINUOUS,
                              "--output_dir", str(out / "cont")]) == 0
    printed = capsys.readouterr().out
    assert "skipped" in printed and labels.name in printed and "bad labels" in printed
    assert "train z" in printed
    assert (out / "cont" / "summary.csv").is_file() and (out / "cont" / "histograms.png").is_file()
    assert label_report_main(["--data_dir", str(corpus.root), "--task", CATEGORICAL,
                              "--output_dir", str(out / "cat")]) == 0
    printed = capsys.readouterr().out
    assert "neutral" in printed and "16.7%" in printed
    assert (out / "cat" / "counts.csv").is_file() and (out / "cat" / "class_shares.png").is_file()
    assert label_report_main(["--data_dir", str(tmp_path / "missing"), "--task",
                              CATEGORICAL, "--output_dir", str(out / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not (out / "none").exists()


def test_without_train_frames_only_raw_statistics(corpus):
    items = [i for i in corpus.items(CONTINUOUS) if i.portion != "train"]
    frames = collect_frames(items, corpus.label_names(CONTINUOUS))
    assert fit_normalisation(frames) is None
    table = summary_statistics(frames)
    assert set(table["scale"]) == {RAW} and list(dict.fromkeys(table["portion"])) == [
        "devel", "test"]
