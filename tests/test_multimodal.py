"""--model multimodal: masking, the ablations, the word_sequence records, and a tiny demo
corpus through make_tfrecords -> tfemo.train -> tfemo.eval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.corpus_trees import iemocap_tree
from tfemo import eval as evaluate
from tfemo import train
from tfemo.corpora.base import CATEGORICAL, WordTiming
from tfemo.corpora.demo import (
    DEFAULT_CONFIG,
    SENTENCES,
    TINY_CONFIG,
    UNSEEN_CONFIG,
    UNSEEN_SENTENCES,
    DemoConfig,
    DemoCorpus,
    ensure_demo_corpus,
)
from tfemo.corpora.demo.synthesis import plan_utterances
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.models.multimodal import (
    FUSIONS,
    MultimodalClassifier,
    MultimodalConfig,
    masked_attention_pool,
)
from tfemo.models.multimodal import build as build_multimodal
from tfemo.records.description import DatasetDescription
from tfemo.records.example import word_vector_sequence
from tfemo.records.partitions import read_portion
from tfemo.records.reader import make_dataset
from tfemo.records.schema import ExampleArrays, deserialize, parse, serialize
from tfemo.text.embeddings import SPACY_MD, load_word_vectors, vector_table

F, D, C = 4, 6, 3


def model(**options) -> MultimodalClassifier:
    sizes = {"filters": 8, "text_units": 8, "fusion_size": 8, "hidden": 8, **options}
    return MultimodalClassifier(class_names=["a", "b", "c"][:C], feature_dim=F,
                                feature_mean=[1.0] * F, feature_std=[2.0] * F, word_dim=D,
                                **sizes)


def batch(rng, frames=(7,), words=(3,), pad_frames=0, pad_words=0) -> dict[str, np.ndarray]:
    """Rows of the given lengths, padded with garbage (large values) beyond their lengths."""
    t, w = max(frames) + pad_frames, max(words) + pad_words
    features = rng.normal(size=(len(frames), t, F)).astype("float32")
    vectors = rng.normal(size=(len(frames), w, D)).astype("float32")
    mask = np.arange(t)[None] < np.array(frames)[:, None]
    word_mask = np.arange(w)[None] < np.array(words)[:, None]
    features[~mask] = 1e4
    vectors[~word_mask] = -1e4
    return {"features": features, "mask": mask, "word_sequence": vectors, "word_mask": word_mask}


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("encoder", ["bigru", "attention"])
def test_padded_words_and_frames_never_change_the_output(fusion, encoder):
    rng = np.random.default_rng(0)
    net = model(fusion=fusion, text_encoder=encoder)
    alone = batch(rng, frames=(7,), words=(3,))
    padded = batch(rng, frames=(7,), words=(3,), pad_frames=5, pad_words=4)
    padded["features"][:, :7] = alone["features"]
    padded["word_sequence"][:, :3] = alone["word_sequence"]
    out = net(alone, training=False).numpy()
    assert out.shape == (1, C) and np.allclose(out.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(out, net(padded, training=False).numpy(), atol=1e-5)


def test_rows_of_a_batch_match_the_rows_alone_and_no_words_is_finite():
    rng = np.random.default_rng(1)
    net = model(fusion="gated")
    both = batch(rng, frames=(9, 4), words=(5, 0))
    out = net(both, training=False).numpy()
    assert np.isfinite(out).all()
    first = {k: v[:1, :9] if k in ("features", "mask") else v[:1, :5] for k, v in both.items()}
    assert np.allclose(out[0], net(first, training=False).numpy()[0], atol=1e-5)


def test_attention_pool_weights_only_real_positions():
    x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    pooled = masked_attention_pool(x, np.zeros((1, 3), "float32"), np.array([[1, 1, 0]], bool))
    assert np.allclose(np.asarray(pooled), [[2.0]])


@pytest.mark.parametrize("modalities, keys", [
    (("audio",), ("features",)),
    (("text",), ("word_sequence", "word_mask")),
    (("audio", "text"), ("features", "word_sequence", "word_mask"))])
def test_the_ablations_read_only_their_inputs(modalities, keys):
    rng = np.random.default_rng(2)
    net = model(modalities=modalities)
    assert net.input_keys == keys
    full = batch(rng, frames=(6,), words=(2,))
    only = {k: v for k, v in full.items() if k in keys or k == "mask"}
    assert np.allclose(net(only, training=False).numpy(), net(full, training=False).numpy())
    changed = dict(full)
    for key in {"features", "word_sequence"} - set(keys):  # what it must not read
        changed[key] = full[key] + 5.0
    assert np.allclose(net(changed, training=False).numpy(), net(full, training=False).numpy())
    missing = next(iter(keys))
    with pytest.raises(KeyError, match=missing):
        net({k: v for k, v in full.items() if k != missing}, training=False)


def test_config_round_trip_gives_identical_outputs():
    rng = np.random.default_rng(3)
    net = model(fusion="attention", audio_variant="utterance_rich", text_encoder="attention")
    copy = MultimodalClassifier.from_config(net.get_config())
    copy.set_weights(net.get_weights())
    data = batch(rng, frames=(8,), words=(4,))
    assert np.allclose(copy(data, training=False).numpy(), net(data, training=False).numpy())


@pytest.mark.parametrize("options, message", [
    ({"modalities": ()}, "modalities"), ({"fusion": "sum"}, "fusion"),
    ({"text_units": 0}, "positive")])
def test_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        model(**options)


def test_builder_needs_only_the_chosen_modalities_inputs():
    class Description:
        name, label_names, word_dim, features = "x", ["a", "b"], 0, {"mfcc": F}
        normalisation = {"features": {"mean": [0.0] * F, "std": [1.0] * F}}
    assert build_multimodal(Description, MultimodalConfig(modalities=("audio",))).input_keys
    with pytest.raises(ValueError, match="the records have none"):
        build_multimodal(Description, MultimodalConfig())


def test_word_sequence_is_each_word_once_in_spoken_order_and_round_trips(tmp_path):
    vectors = {w: np.full(D, k, np.float32) for k, w in enumerate(["a", "b", "c"])}
    timings = [WordTiming("b", 0.5, 0.9), WordTiming("a", 0.0, 0.4), WordTiming("c", 1.0, 1.0)]
    sequence = word_vector_sequence(timings, vectors, D)
    assert sequence[:, 0].tolist() == [0.0, 1.0, 2.0]  # a, b, then the zero-length c
    example = ExampleArrays(id="u1", speaker="s", corpus="c", portion="train",
                            sample_rate=16000, audio=np.zeros((30, 640), np.int16),
                            words=np.zeros((30, D), np.float32), word_sequence=sequence)
    record = serialize(example)
    assert np.array_equal(deserialize(record).word_sequence, sequence)
    from tfemo.records.schema import RecordSpec
    parsed = parse(record, RecordSpec(frame_length=640, word_dim=D),
                   features=("words", "word_sequence"))
    assert parsed["word_sequence"].shape == (3, D) and parsed["words"].shape == (30, D)
    empty = ExampleArrays(id="u2", speaker="s", corpus="c", portion="train", sample_rate=16000,
                          audio=np.zeros((3, 640), np.int16), words=np.zeros((3, D), np.float32),
                          word_sequence=np.zeros((0, D), np.float32))
    parsed = parse(serialize(empty), RecordSpec(frame_length=640, word_dim=D),
                   features=("word_sequence",))
    assert parsed["word_sequence"].shape == (0, D)
    with pytest.raises(ValueError, match="word_sequence"):
        ExampleArrays(id="u3", speaker="s", corpus="c", portion="train", sample_rate=16000,
                      audio=np.zeros((3, 640), np.int16), words=np.zeros((3, D), np.float32),
                      word_sequence=np.zeros((2, D + 1), np.float32))


# ---------------------------------------------------------------- tiny demo, end to end

SMALL = ["--model", "multimodal", "--batch_size", "4", "--filters", "8", "--text_units", "8",
         "--fusion_size", "8", "--hidden", "8", "--max_steps", "4", "--learning_rate", "3e-3",
         "--save_interval_secs", "100", "--verbose", "0", "--device", "-1"]


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory) -> Path:
    root = ensure_demo_corpus(TINY_CONFIG, tmp_path_factory.mktemp("demo") / "tiny")
    output = tmp_path_factory.mktemp("records")
    assert make_tfrecords_main(["--corpus", "demo", "--data_dir", str(root), "--task",
                                "categorical", "--output_dir", str(output), "--features",
                                "rms,mfcc", "--workers", "1", "--quiet"]) == 0
    return output


@pytest.mark.slow
def test_records_hold_each_word_once_and_the_reader_masks_the_padding(demo_records):
    description = DatasetDescription.read(demo_records)
    data = make_dataset(demo_records, "train", sequence_length=None, batch_size=4,
                        shuffle=False, seed=0, features=("features", "word_mask"))
    first = next(iter(data))
    assert set(first) >= {"features", "word_sequence", "word_mask", "mask"}
    counts = first["word_mask"].numpy().sum(axis=1)
    assert first["word_sequence"].shape[-1] == description.word_dim
    assert counts.min() >= 5 and (counts < first["word_sequence"].shape[1]).any()
    # the words are few (each once), far fewer than the frames they span
    assert (counts < first["mask"].numpy().sum(axis=1) / 4).all()
    padded = first["word_sequence"].numpy()[~first["word_mask"].numpy()]
    assert not padded.any()


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["--fusion", "gated"], ["--modalities", "text",
                                                           "--text_encoder", "attention"]])
def test_trains_and_evaluates_on_tiny_demo_records(demo_records, tmp_path, extra):
    train_dir = tmp_path / "run"
    assert train.main(["--tfrecords", str(demo_records), "--train_dir", str(train_dir),
                       *SMALL, *extra]) == 0
    assert evaluate.main(["--portion", "test", "--steps", "4", "--train_dir", str(train_dir),
                          "--tfrecords", str(demo_records), "--device", "-1"]) == 0
    scores = json.loads((train_dir / "eval-test-4.json").read_text())
    assert {"uar", "wa", "macro_f1", "confusion"} <= set(scores)
    assert np.array(scores["confusion"]).sum() == scores["files"] == 12


@pytest.mark.slow
def test_predict_feeds_a_text_model_the_words_of_a_transcript(demo_records, tmp_path):
    """predict and export make word_sequence from a transcript (tests/test_serve_words.py:
    from the recognised words when none is given)."""
    import csv

    from tfemo.export import main as export_main
    from tfemo.predict import main as predict_main

    run = tmp_path / "run"
    assert train.main(["--tfrecords", str(demo_records), "--train_dir", str(run), *SMALL,
                       "--max_steps", "1"]) == 0
    from tests.text_models import speech

    wav = speech(tmp_path / "a.wav")
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,transcript\n{wav},the words of it\n")
    assert predict_main([str(listing), "--train_dir", str(run), "--output_dir",
                         str(tmp_path / "p"), "--alignment", "uniform"]) == 0
    with open(tmp_path / "p" / "predictions.csv") as handle:
        row = next(csv.DictReader(handle))
    assert (row["transcript"], row["transcript_source"]) == ("the words of it", "transcript")
    assert export_main(["--train_dir", str(run), "--export_dir", str(tmp_path / "e")]) == 0


# ---------------------------------------------------------------- unseen-sentence protocol


def test_unseen_protocol_plans_devel_and_test_sentences_never_spoken_in_train():
    plan = plan_utterances(UNSEEN_CONFIG)
    spoken = {portion: {u.sentence for u in plan if u.speaker.portion == portion}
              for portion in ("train", "devel", "test")}
    assert spoken["test"] and spoken["devel"]
    assert not spoken["test"] & spoken["train"] and not spoken["devel"] & spoken["train"]
    for utterance in plan:  # the same valence pool as the emotion's, in other sentences
        pools = SENTENCES if utterance.speaker.portion == "train" else UNSEEN_SENTENCES
        assert utterance.sentence in pools[utterance.emotion.pool]
    assert not set().union(*SENTENCES.values()) & set().union(*UNSEEN_SENTENCES.values())
    # the default corpus is untouched: same plan, same manifest config, same cache name
    assert "unseen_sentences" not in DEFAULT_CONFIG.to_dict()
    assert DemoConfig.from_dict(DEFAULT_CONFIG.to_dict()) == DEFAULT_CONFIG
    assert DemoConfig.from_dict(UNSEEN_CONFIG.to_dict()) == UNSEEN_CONFIG
    assert [u.sentence for u in plan_utterances(DEFAULT_CONFIG)] == [
        u.sentence for u in plan_utterances(replace(UNSEEN_CONFIG, unseen_sentences=False))]


def test_a_generated_unseen_corpus_has_no_test_sentence_in_train(tmp_path):
    config = replace(TINY_CONFIG, unseen_sentences=True)
    corpus = DemoCorpus(ensure_demo_corpus(config, tmp_path / "unseen"))
    items = corpus.items(CATEGORICAL)
    sentences = {p: {i.metadata["sentence"] for i in items if i.portion == p}
                 for p in ("train", "devel", "test")}
    assert sentences["test"] and not sentences["test"] & sentences["train"]
    assert not sentences["devel"] & sentences["train"]


# ---------------------------------------------------------------- IEMOCAP, leave one session out


@pytest.mark.slow
def test_iemocap_sessions_folds_train_and_pool_with_corpus_word_timings(tmp_path):
    """The fake tree in the release layout: 4 classes, one fold per session, the words of the
    corpus's ForcedAlignment (turns without one fail aeneas on their tones and are skipped)."""
    root = iemocap_tree(tmp_path / "IEMOCAP_full_release")
    output = tmp_path / "records"
    assert make_tfrecords_main(["--corpus", "iemocap", "--data_dir", str(root), "--task",
                                "categorical", "--partition", "sessions", "--features",
                                "rms,mfcc", "--output_dir", str(output), "--workers", "1",
                                "--quiet"]) == 0
    folds = sorted(p.name for p in output.glob("fold-*"))
    assert folds == ["fold-01", "fold-02", "fold-03"]  # sessions 1, 4 and 5
    description = DatasetDescription.read(output / "fold-01")
    assert description.label_names == ["neutral", "happy", "angry", "sad"]
    vectors, _ = vector_table(["what", "excuse"], load_word_vectors(SPACY_MD))
    for portion in ("train", "devel", "test"):
        for example in read_portion(output / "fold-01", portion):
            # WHAT(2) and Excuse, each once, in spoken order (<s>, <sil>, noises dropped)
            assert np.allclose(example.word_sequence,
                               np.stack([vectors["what"], vectors["excuse"]]), atol=1e-6)
    run = tmp_path / "run"
    assert train.main(["--tfrecords", str(output), "--train_dir", str(run), *SMALL,
                       "--max_steps", "2", "--batch_size", "2"]) == 0
    assert evaluate.main(["--portion", "test", "--steps", "2", "--train_dir", str(run),
                          "--tfrecords", str(output), "--device", "-1"]) == 0
    pooled = json.loads((run / "eval-test-2-pooled.json").read_text())
    assert pooled["folds"] == 3 and pooled["files"] == 3
