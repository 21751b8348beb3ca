"""Read a feature store: iterate items, select them by metadata, tabulate the metadata, latents.

    with FeatureStore("features/ravdess.h5") as store:
        for item in store.select(emotion="angry", portion="train"):
            item.id, item.metadata["intensity"], item.frames, item.stats
        table = store.to_dataframe()
        store.write_latents("beta4", {item_id: (mean, log_var)}, {"model": "beta_vae"})
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from tfemo.core.errors import TfemoError
from tfemo.corpora.base import PORTIONS
from tfemo.store.layout import LATENTS, RESERVED, SKIP_FIELDS, SKIPPED, decoded, escape_name
from tfemo.store.parts import Skip


@dataclass
class StoreItem:
    """One item of the store: its id, every metadata attribute, frames [N, F] and stats [S]."""

    id: str
    group: str
    metadata: dict[str, object]
    frames: np.ndarray
    stats: np.ndarray


@dataclass
class Latents:
    """Latents of one name: item ids with their mean and log-variance rows, and provenance."""

    item_ids: list[str]
    mean: np.ndarray
    log_var: np.ndarray
    provenance: dict[str, object] = field(default_factory=dict)

    def of(self, item_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean, log_var) of one item."""
        row = self.item_ids.index(item_id)
        return self.mean[row], self.log_var[row]


@dataclass
class PortionSummary:
    """What a portion holds in the store."""

    items: int = 0
    speakers: int = 0
    frames: int = 0
    seconds: float = 0.0


class FeatureStore:
    """A feature store opened read-only (use as a context manager, or call close())."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._open()

    def _open(self) -> None:
        """Open the file and read every item's attributes (selection needs no array)."""
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as error:
            raise TfemoError(f"{self.path}: cannot open the feature store ({error})") from None
        self.attrs: dict[str, object] = {k: decoded(v) for k, v in self._file.attrs.items()}
        self._groups = [group for corpus in self._file if corpus not in RESERVED
                        for speaker in self._file[corpus].values()
                        for group in speaker.values()]
        self._metadata = [{k: decoded(v) for k, v in group.attrs.items()}
                          for group in self._groups]

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    @property
    def families(self) -> dict[str, int]:
        """The frame feature families, in column order, with their widths."""
        return dict(zip(self.attrs["families"], self.attrs["family_dims"], strict=True))

    def __len__(self) -> int:
        return len(self._groups)

    def __iter__(self) -> Iterator[StoreItem]:
        return self.items()

    def metadata(self) -> list[dict[str, object]]:
        """Every item's attributes, in store order (corpus, speaker, item id)."""
        return [dict(m) for m in self._metadata]

    def _matches(self, criteria: Mapping[str, object]) -> list[int]:
        """Indices of the items whose attributes equal (or are among) the criteria's values."""
        known = set().union(*self._metadata) if self._metadata else set()
        unknown = sorted(set(criteria) - known)
        if unknown:
            raise TfemoError(f"{self.path}: no attribute {', '.join(unknown)}; the items have "
                             f"{', '.join(sorted(known))}")
        wanted = {k: (set(v) if isinstance(v, (list, tuple, set, frozenset)) else {v})
                  for k, v in criteria.items()}
        return [n for n, meta in enumerate(self._metadata)
                if all(meta.get(k) in values for k, values in wanted.items())]

    def items(self, **criteria: object) -> Iterator[StoreItem]:
        """Items whose attributes match, read one at a time (`portion=("train", "devel")` too)."""
        for n in self._matches(criteria):
            group = self._groups[n]
            yield StoreItem(str(self._metadata[n]["id"]), group.name, dict(self._metadata[n]),
                            group["frames"][()], group["stats"][()])

    def select(self, **criteria: object) -> list[StoreItem]:
        """The matching items with their arrays, e.g. select(emotion="angry", portion="train")."""
        return list(self.items(**criteria))

    def ids(self, **criteria: object) -> list[str]:
        """Ids of the matching items (reads no arrays)."""
        return [str(self._metadata[n]["id"]) for n in self._matches(criteria)]

    def to_dataframe(self, **criteria: object):
        """The matching items' metadata as a pandas DataFrame, one row per item."""
        import pandas

        rows = [dict(self._metadata[n], group=self._groups[n].name)
                for n in self._matches(criteria)]
        return pandas.DataFrame(rows)

    def skipped(self) -> list[Skip]:
        """The items left out when the store was made, with the file and the reason."""
        if SKIPPED not in self._file:
            return []
        return [Skip(**{name: decoded(row[name]) for name in SKIP_FIELDS})
                for row in self._file[SKIPPED][()]]

    def summary(self) -> dict[str, PortionSummary]:
        """Items, speakers, frames and seconds per portion."""
        out: dict[str, PortionSummary] = {}
        speakers: dict[str, set] = {}
        for meta in self._metadata:
            entry = out.setdefault(str(meta["portion"]), PortionSummary())
            entry.items += 1
            entry.frames += int(meta["num_frames"])
            entry.seconds += float(meta["seconds"])
            speakers.setdefault(str(meta["portion"]), set()).add(meta["speaker"])
        for portion, entry in out.items():
            entry.speakers = len(speakers[portion])
        order = {name: n for n, name in enumerate(PORTIONS)}
        return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def latent_names(self) -> list[str]:
        """Names of the latents written into this store."""
        return sorted(self._file[LATENTS]) if LATENTS in self._file else []

    def latents(self, name: str) -> Latents:
        """The latents written under `name`."""
        key = f"{LATENTS}/{escape_name(name)}"
        if key not in self._file:
            raise TfemoError(f"{self.path}: no latents {name!r} (has: "
                             f"{', '.join(self.latent_names()) or 'none'})")
        group = self._file[key]
        return Latents([decoded(i) for i in group["item_ids"][()]], group["mean"][()],
                       group["log_var"][()], {k: decoded(v) for k, v in group.attrs.items()})

    def write_latents(self, name: str, latents: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      provenance: Mapping[str, object] | None = None) -> None:
        """Write latents (tfemo.store.writer.write_latents) and reopen the updated store."""
        from tfemo.store.writer import write_latents

        self.close()
        try:
            write_latents(self.path, name, latents, provenance)
        finally:
            self._open()


def open_store(path: str | Path) -> FeatureStore:
    """Open a feature store read-only."""
    return FeatureStore(path)


def iterate(path: str | Path, **criteria: object) -> Iterable[StoreItem]:
    """Items of the store at `path` matching `criteria`, opened and closed around the loop."""
    with FeatureStore(path) as store:
        yield from store.items(**criteria)
