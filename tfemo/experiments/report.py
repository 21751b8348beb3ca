"""The report of a run: report.md (figures in report/) and a self-contained report.html.

A pure function of the run folder's result files (tfemo/experiments/results.py reads them):
rebuilding it runs nothing. Sections: the data (per corpus, portion, speaker and class), the
scores per fold and pooled with mean +- sd over folds and every model beside the baseline,
confusion matrices, reliability before and after calibration, UAR per speaker (for continuous
tasks: CCC per file and traces against the gold standard), the final model, and the exact
commands and versions behind it.
The HTML inlines every figure as a base64 PNG: no external request of any kind.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfemo.core.reports import confusion_figure
from tfemo.core.storage import write_atomic
from tfemo.experiments.figures import (
    file_ccc_figure,
    reliability_figure,
    speaker_figure,
    traces_figure,
)
from tfemo.experiments.layout import RunFolder
from tfemo.experiments.results import (
    RunResults,
    probabilities,
    read_run,
    speaker_uar,
)
from tfemo.experiments.runner import done_steps
from tfemo.scoring.calibration import apply_temperature

STYLE = """body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:2px 8px;
text-align:right}th{background:#eee}td:first-child{text-align:left}
pre{background:#f5f5f5;padding:0.5em;overflow-x:auto;white-space:pre-wrap}
img{max-width:100%;display:block;margin:0.5em 0}"""
TRACE_FILES = 2  # files of the scored portion whose traces are drawn


@dataclass
class Document:
    """The report as blocks, rendered to Markdown and to HTML alike."""

    blocks: list[tuple] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.blocks.append(("table", list(header), [[str(v) for v in r] for r in rows]))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def figure(self, name: str, figure: Figure, alt: str) -> None:
        buffer = io.BytesIO()
        FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
        self.figures[name] = buffer.getvalue()
        self.blocks.append(("figure", name, alt))


def markdown(document: Document, figure_dir: str) -> str:
    """The document as Markdown, figures linked from `figure_dir`."""
    out = []
    for block in document.blocks:
        kind = block[0]
        if kind == "heading":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "text":
            out.append(block[1])
        elif kind == "table":
            out.append("| " + " | ".join(block[1]) + " |")
            out.append("|" + "---|" * len(block[1]))
            out.extend("| " + " | ".join(row) + " |" for row in block[2])
        elif kind == "code":
            out.append("```\n" + block[1].rstrip("\n") + "\n```")
        elif kind == "figure":
            out.append(f"![{block[2]}]({figure_dir}/{block[1]}.png)")
        out.append("")
    return "\n".join(out)


def html_page(document: Document, title: str) -> str:
    """The document as one HTML page with every figure inlined as a data URI."""
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"]
    for block in document.blocks:
        kind = block[0]
        if kind == "heading":
            out.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "text":
            out.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
                       + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                       for row in block[2])
            out.append("</table>")
        elif kind == "code":
            out.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "figure":
            data = base64.b64encode(document.figures[block[1]]).decode("ascii")
            out.append(f"<img alt=\"{html.escape(block[2])}\" "
                       f"src=\"data:image/png;base64,{data}\">")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _mean_sd(values: Sequence[float]) -> str:
    """`mean ± sd` over folds (sd with n - 1; 0 for one fold)."""
    values = np.asarray(values, float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {sd:.3f}"


def _before_after(calibration: dict, key: str) -> str:
    if key not in calibration:
        return "-"
    after = calibration.get(f"{key}_calibrated")
    return f"{calibration[key]:.3f}" + (f" → {after:.3f}" if after is not None else "")


def _data(document: Document, results: RunResults) -> None:
    """Counts per corpus, portion, fold, class and speaker."""
    document.heading(2, "Data")
    descriptions = results.descriptions
    if not descriptions:
        document.text("No records description in the run folder yet.")
        return
    first = next(iter(descriptions.values()))
    features = ", ".join(f"{name} ({dim})" for name, dim in first.get("features", []))
    document.text(f"Corpus {first.get('corpus', '?')}, task {first.get('task', '?')}; "
                  f"features: {features or 'none'}; labels: "
                  f"{', '.join(first.get('label_names', []))}. Statistics are fit on each "
                  "fold's train speakers only.")
    portions = first.get("portions", {})
    classes = first.get("label_names", []) if first.get("task") == "categorical" else []
    speakers = sorted({s for p in portions.values() for s in p.get("speakers", [])})
    corpora: dict[str, set] = {}
    for speaker in speakers:
        corpus = speaker.split("/", 1)[0] if "/" in speaker else first.get("corpus", "?")
        corpora.setdefault(corpus, set()).add(speaker)
    merged = first.get("extra", {}).get("corpora", {}) if len(corpora) > 1 else {}
    rows = []
    for corpus, members in corpora.items():
        if corpus in merged:  # several corpora: each one's own counts, and what it dropped
            per_class = merged[corpus].get("classes", {})
            dropped = merged[corpus].get("dropped", {})
            rows.append([corpus, len(members), sum(per_class.values()), "-",
                         *(per_class.get(c, 0) for c in classes),
                         ", ".join(f"{k} {v}" for k, v in dropped.items()) or "-"])
            continue
        examples = sum(p["examples"] for p in portions.values())
        minutes = sum(p.get("seconds", 0.0) for p in portions.values()) / 60
        counts = [sum(p.get("classes", {}).get(c, 0) for p in portions.values())
                  for c in classes]
        rows.append([corpus, len(members), examples, f"{minutes:.1f}", *counts])
    document.table(["corpus", "speakers", "items", "minutes", *classes,
                    *(["dropped (label map)"] if merged else [])], rows)
    rows = []
    for fold, description in descriptions.items():
        entry = description.get("portions", {})
        rows.append([fold, *(f"{entry.get(p, {}).get('examples', 0)} "
                             f"({', '.join(entry.get(p, {}).get('speakers', []))})"
                             for p in ("train", "devel", "test"))])
    document.table(["fold", "train items (speakers)", "devel items (speakers)",
                    "test items (speakers)"], rows)
    if results.models and classes:
        files = results.models[0].files
        table = files.groupby(["speaker", "label"]).size().unstack(fill_value=0)
        table = table.reindex(columns=[c for c in classes if c in table.columns])
        document.text(f"Files scored ({results.portion} portion of every fold) per speaker "
                      "and class:")
        document.table(["speaker", *table.columns, "total"],
                       [[s, *row, int(sum(row))] for s, row in
                        zip(table.index, table.to_numpy().tolist(), strict=True)])


def _scores(document: Document, results: RunResults) -> None:
    """Pooled and per-fold scores, every model beside the baseline."""
    models = results.models
    document.heading(2, f"Scores ({results.portion} portion)")
    folds = len(models[0].folds)
    document.text(f"Pooled: every {results.portion} file of the {folds} fold(s) scored "
                  f"together; mean ± sd: over the folds (sd with n - 1). Baseline: "
                  f"{results.baseline or models[-1].name}.")
    if models[0].categorical:
        rows = []
        for result in models:
            overall, per_fold = result.overall, [f.scores for f in result.folds]
            calibration = overall.get("calibration", {})
            rows.append([result.name, result.model, overall["files"],
                         *(f"{overall[k]:.3f}" for k in ("uar", "wa", "macro_f1")),
                         *(_mean_sd([s[k] for s in per_fold]) for k in ("uar", "wa")),
                         _before_after(calibration, "nll"), _before_after(calibration, "ece")])
        document.table(["model", "kind", "files", "UAR pooled", "WA pooled",
                        "macro F1 pooled", "UAR mean ± sd", "WA mean ± sd",
                        "NLL (→ calibrated)", "ECE (→ calibrated)"], rows)
        baseline = next((m for m in models if m.name == results.baseline), models[-1])
        for result in models:
            if result is not baseline:
                gain = result.overall["uar"] - baseline.overall["uar"]
                document.text(f"{result.name} − {baseline.name}: {gain:+.3f} UAR pooled "
                              f"({gain * 100:+.1f} points).")
        key, label = "uar", "UAR"
    else:
        names = list(models[0].overall["dimensions"])
        rows = []
        for result in models:
            overall, per_fold = result.overall, [f.scores for f in result.folds]
            for name in names:
                rows.append([result.name, result.model, name,
                             f"{overall['dimensions'][name]['ccc']:.3f}",
                             _mean_sd([s["dimensions"][name]["ccc"] for s in per_fold]),
                             f"{overall['dimensions'][name]['mean_file_ccc']:.3f}"])
        document.table(["model", "kind", "dimension", "CCC pooled", "CCC mean ± sd",
                        "mean CCC over files"], rows)
        key, label = "mean_ccc", "mean CCC"
    if folds > 1:
        rows = []
        for n, fold in enumerate(models[0].folds):
            speakers = ", ".join(sorted(fold.files["speaker"].astype(str).unique()))
            rows.append([fold.name, speakers, *(f"{m.folds[n].scores.get(key, float('nan')):.3f}"
                                                if n < len(m.folds) else "-" for m in models)])
        document.text(f"{label} per fold:")
        document.table(["fold", "test speakers", *(m.name for m in models)], rows)


def _classes(document: Document, results: RunResults) -> None:
    """Confusion matrices, reliability diagrams and UAR per speaker."""
    document.heading(2, "Confusion matrices")
    for result in results.models:
        overall = result.overall
        document.figure(f"confusion-{result.name}",
                        confusion_figure(np.array(overall["confusion"]), overall["classes"],
                                         f"{result.name}: UAR {overall['uar']:.3f}"),
                        f"confusion matrix of {result.name}")
    document.heading(2, "Calibration")
    document.text("Accuracy against confidence in 15 bins, with the raw probabilities and with "
                  "each fold's temperature (fit on its calibration portion, never on the "
                  "scored speakers).")
    for result in results.models:
        classes = result.overall["classes"]
        raw, labels = zip(*(probabilities(f.files, classes) for f in result.folds), strict=True)
        temperatures = [f.temperature for f in result.folds]
        calibrated = None
        if all(t is not None for t in temperatures):
            calibrated = np.concatenate([apply_temperature(p, t)
                                         for p, t in zip(raw, temperatures, strict=True)])
            document.text(f"{result.name}: temperature per fold "
                          + ", ".join(f"{t:.2f}" for t in temperatures) + ".")
        else:
            document.text(f"{result.name}: no temperature (no [calibration] step).")
        document.figure(f"reliability-{result.name}",
                        reliability_figure(np.concatenate(raw), np.concatenate(labels),
                                           calibrated, f"{result.name}: reliability"),
                        f"reliability diagram of {result.name}")
    document.heading(2, "UAR per speaker")
    per_model = {m.name: speaker_uar(m.files) for m in results.models}
    chance = 1.0 / len(results.models[0].overall["classes"])
    document.figure("speakers", speaker_figure(per_model, "UAR per test speaker", chance),
                    "UAR per speaker and model")
    speakers = sorted({s for per in per_model.values() for s in per})
    document.table(["speaker", *per_model],
                   [[s, *(f"{per_model[m].get(s, float('nan')):.3f}" for m in per_model)]
                    for s in speakers])


def _continuous(document: Document, results: RunResults) -> None:
    """CCC per file of each model and dimension."""
    document.heading(2, "CCC per file")
    names = list(results.models[0].overall["dimensions"])
    values = {n: {m.name: m.files[f"ccc_{n}"].to_numpy() for m in results.models}
              for n in names}
    document.figure("file-ccc", file_ccc_figure(values, f"CCC per {results.portion} file"),
                    "CCC per file")
    traces = {}
    for model in results.models:
        for path in sorted(results.run.traces(model.name).glob("*.csv"))[:TRACE_FILES]:
            traces.setdefault(path.stem, {})[model.name] = pd.read_csv(path)
    traces = {k: v for k, v in traces.items() if len(v) == len(results.models)}
    if not traces:
        document.text("No traces in the run folder (the traces step has not run).")
        return
    document.heading(2, "Traces against the gold standard")
    document.figure("traces", traces_figure(traces, names, f"the first {len(traces)} "
                                            f"{results.portion} files"),
                    "predicted and gold traces")


def _final(document: Document, results: RunResults) -> None:
    final = results.final
    if not final:
        return
    document.heading(2, "Final model")
    settings = final["settings"]
    document.text(f"{settings.get('model', '?')} settings ({final['model']}) trained on the "
                  f"{settings.get('train_portions', 'train')} portions in "
                  f"{results.run.final}; "
                  + ("calibrated on held-out speakers." if final["temperature"] else
                     "its probabilities are not calibrated (no speaker was held out for a "
                     "temperature)."))
    document.code(f"python -m tfemo.predict FILES --train_dir {results.run.final}")


def _provenance(document: Document, results: RunResults) -> None:
    steps = done_steps(results.run)
    document.heading(2, "Commands")
    document.text("Each step ran as this command (its --config file follows); the run folder's "
                  "commands.log lists every command ever run there, with its exit code.")
    document.table(["step", "started", "seconds"],
                   [[m["step"], m["started"], f"{m['seconds']:.1f}"] for m in steps])
    document.code("\n".join(m["command"] for m in steps) or "(no step finished)")
    for marker in steps:
        document.text(f"{marker['step']}: --config")
        document.code(marker["config"])
    document.heading(2, "Versions")
    seen: list[dict] = []
    for marker in steps:
        if marker["versions"] not in seen:
            seen.append(marker["versions"])
    names = list(seen[0]) if seen else []
    document.table(["steps", *names],
                   [[", ".join(m["step"] for m in steps if m["versions"] == v),
                     *(v.get(n, "?") for n in names)] for v in seen])
    document.heading(2, "Experiment file (as run)")
    document.code(results.run.experiment_file.read_text())


def build(results: RunResults) -> Document:
    """The report's document."""
    document = Document()
    name = results.experiment.get("experiment", {}).get("name", results.run.root.name)
    document.heading(1, f"Experiment {name}")
    document.text(f"Run folder {results.run.root}. Rebuild this report from its result files "
                  f"with: python -m tfemo.experiment --report {results.run.root}")
    _data(document, results)
    if results.models:
        _scores(document, results)
        if results.models[0].categorical:
            _classes(document, results)
        else:
            _continuous(document, results)
    else:
        document.text("No model has been scored yet.")
    _final(document, results)
    _provenance(document, results)
    return document


def write_report(run: RunFolder) -> tuple[Path, Path]:
    """Write report.md, its figures and report.html from the run folder's result files."""
    results = read_run(run)
    document = build(results)
    for name, data in document.figures.items():
        write_atomic(run.figures / f"{name}.png", data)
    write_atomic(run.report_md, markdown(document, run.figures.name))
    title = f"tfemo experiment {results.experiment.get('experiment', {}).get('name', '')}"
    write_atomic(run.report_html, html_page(document, title))
    return run.report_html, run.report_md

