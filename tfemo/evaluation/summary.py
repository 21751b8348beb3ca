"""Scores beside the pooled figure: per corpus of merged records, and mean ± sd over folds.

Merged records (make_tfrecords with several `--corpus NAME=PATH`) name each item
`<corpus>/<id>`; `by_corpus` scores each corpus's files on its own (UAR, WA and macro F1, or CCC
per dimension). `over_folds` gives the mean and the sample standard deviation (ddof 1) over the
folds of the main scores: a pooled figure alone hides how much a protocol's folds differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CATEGORICAL_KEYS = ("uar", "wa", "macro_f1")


def corpus_of(file_id: str, corpora: Sequence[str]) -> str:
    """The corpus of an item of merged records (its id's prefix), "" for other records."""
    prefix, _, rest = file_id.partition("/")
    return prefix if rest and prefix in corpora else ""


def by_corpus(files: list, label_names: Sequence[str], corpora: Sequence[str],
              categorical: bool) -> dict[str, dict]:
    """Per corpus of `corpora` found among the files: its files' scores (UAR, WA, macro F1
    and files; or CCC and mean file CCC per dimension and files)."""
    from tfemo.evaluation.portion import categorical_scores, continuous_scores

    groups: dict[str, list] = {}
    for file in files:
        name = corpus_of(file.id, corpora)
        if name:
            groups.setdefault(name, []).append(file)
    out = {}
    for name in sorted(groups):
        if categorical:
            scores = categorical_scores(groups[name], tuple(label_names))
            out[name] = {"files": scores["files"],
                         **{key: scores[key] for key in CATEGORICAL_KEYS}}
        else:
            scores = continuous_scores(groups[name], tuple(label_names))
            out[name] = {"files": scores["files"], "dimensions": scores["dimensions"],
                         "mean_ccc": scores["mean_ccc"]}
    return out


def over_folds(results: Sequence[dict]) -> tuple[dict, dict]:
    """Mean and sample sd over folds of UAR, WA and macro F1 (classifier), or of each
    dimension's CCC and mean file CCC and of the mean CCC (regressor); NaN folds are left out."""
    def spread(values: list[float]) -> tuple[float, float]:
        kept = np.array([v for v in values if v == v], dtype=np.float64)
        if not len(kept):
            return float("nan"), float("nan")
        return float(kept.mean()), float(kept.std(ddof=1)) if len(kept) > 1 else 0.0

    mean: dict = {}
    sd: dict = {}
    if "uar" in results[0]:
        for key in CATEGORICAL_KEYS:
            mean[key], sd[key] = spread([r[key] for r in results])
        return mean, sd
    mean["dimensions"], sd["dimensions"] = {}, {}
    for name in results[0]["dimensions"]:
        mean["dimensions"][name], sd["dimensions"][name] = {}, {}
        for key in ("ccc", "mean_file_ccc"):
            m, s = spread([r["dimensions"][name][key] for r in results])
            mean["dimensions"][name][key], sd["dimensions"][name][key] = m, s
    mean["mean_ccc"], sd["mean_ccc"] = spread([r["mean_ccc"] for r in results])
    return mean, sd


__all__ = ["by_corpus", "corpus_of", "over_folds"]
