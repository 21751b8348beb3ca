"""Generated training samples: per fold, from the train portion only, never scored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.corpus_trees import emodb_tree
from tfemo.core.errors import SchemaError
from tfemo.records.description import DatasetDescription
from tfemo.records.generated import GENERATED, add_generated_portion
from tfemo.records.schema import ExampleArrays
from tfemo.training.generate import portion_items

FAMILIES = "rms,mfcc"


@pytest.fixture(scope="module")
def folds(tmp_path_factory):
    """EMO-DB fake tree as 3 speaker folds, before any generated portion."""
    from tfemo.make_tfrecords import main as make_tfrecords_main

    base = tmp_path_factory.mktemp("generated")
    root = emodb_tree(base / "emodb")
    output = base / "folds"
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(root),
                                "--output_dir", str(output), "--embeddings", "none",
                                "--features", FAMILIES, "--partition", "kfold-by-speaker",
                                "--folds", "3", "--workers", "1", "--quiet"]) == 0
    return output


GENERATOR_FLAGS = {"vae": [], "gan": ["--critic_steps", "2", "--frame_noise_dim", "2"]}


@pytest.fixture(scope="module", params=sorted(GENERATOR_FLAGS))
def generated(folds, tmp_path_factory, request):
    """A copy of the folds after tools/generate_samples.py --generator vae|gan; with the
    descriptions from before and the generator's model name."""
    import shutil

    from tfemo.generate_samples import main as generate_main

    records = tmp_path_factory.mktemp(f"records-{request.param}") / "folds"
    shutil.copytree(folds, records)
    before = {p.name: DatasetDescription.read(p) for p in sorted(records.glob("fold-*"))}
    train_root = tmp_path_factory.mktemp("generators")
    assert generate_main(["--tfrecords", str(records), "--train_root", str(train_root),
                          "--generator", request.param,
                          "--per_class", "2", "--max_steps", "2", "--batch_size", "2",
                          "--latent_dim", "2", "--hidden", "8", "--blocks", "1",
                          *GENERATOR_FLAGS[request.param]]) == 0
    return records, train_root, before


@pytest.mark.slow
def test_each_generator_saw_its_train_speakers_only(generated):
    folds, train_root, before = generated
    assert len(before) == 3
    for name, old in before.items():
        fold = folds / name
        description = DatasetDescription.read(fold)
        provenance = description.extra[GENERATED]
        assert provenance["fold"] == name and provenance["trained_on"] == "train"
        # what the generator's own train dir says it trained on ...
        spec = json.loads((train_root / name / "model.json").read_text())
        assert spec["model"] == provenance["generator"] in ("beta_vae", "wgan_gp")
        assert spec["data"]["train_portions"] == "train"
        assert spec["config"]["conditional"] == "class"
        seen = portion_items(fold, spec["data"]["train_portions"])
        assert provenance["train_ids"] == sorted(i.id for i in seen)
        # ... holds no item and no speaker of this fold's devel or test portions
        scored = [i for p in ("devel", "test") if p in description.portions
                  for i in portion_items(fold, p)]
        assert scored, "a fold without scored items proves nothing"
        assert not {i.id for i in seen} & {i.id for i in scored}
        assert not {i.speaker for i in seen} & {i.speaker for i in scored}
        assert set(spec["config"].get("speaker_names", [])) <= {i.speaker for i in seen}
        # normalisation statistics and the scored portions are unchanged
        assert description.normalisation == old.normalisation
        for portion in old.portions:
            assert description.portions[portion] == old.portions[portion]
        entry = description.portions[GENERATED]
        assert entry["speakers"] == [GENERATED]
        assert sum(entry["classes"].values()) == entry["examples"] == len(
            portion_items(fold, GENERATED))


@pytest.mark.slow
def test_generated_examples_look_like_train_features_and_train_with_them(generated, tmp_path):
    from tfemo.evaluation.sample_quality import portion_quality
    from tfemo.records.reader import make_dataset
    from tfemo.train import main as train_main

    folds, _, _ = generated
    fold = sorted(folds.glob("fold-*"))[0]
    description = DatasetDescription.read(fold)
    batch = next(iter(make_dataset(fold, GENERATED, sequence_length=None, batch_size=64,
                                   shuffle=False, seed=0, features=("features",))))
    lengths = {i.frames for i in portion_items(fold, "train")}
    assert set(batch["num_frames"].numpy().tolist()) <= lengths
    assert np.isfinite(batch["features"].numpy()).all()
    labels = set(batch["label"].numpy().tolist())
    assert labels == {i.label for i in portion_items(fold, "train")}
    assert description.portions[GENERATED]["examples"] == 2 * len(labels)
    quality = portion_quality(fold)  # what generate_samples printed, computed again
    assert set(quality.spread) == set(description.features)
    assert 0.0 <= quality.c2st_auc <= 1.0 and np.isfinite(quality.copy_ratio)
    assert {k: n for k, n in quality.counts.items() if n} == \
        description.portions[GENERATED]["classes"]
    assert train_main(["--model", "conv1d", "--tfrecords", str(fold), "--train_dir",
                       str(tmp_path / "clf"), "--max_steps", "2", "--batch_size", "2",
                       "--hidden", "8", "--hidden", "8", "--blocks", "1",
                       "--train_portions", "train+generated"]) == 0


@pytest.mark.slow
def test_the_portion_refuses_wrong_examples_and_generators_that_saw_scored_items(folds,
                                                                                 tmp_path):
    import shutil

    shutil.copytree(folds, tmp_path / "records")  # a fold is a view: copy the records too
    fold = sorted((tmp_path / "records").glob("fold-*"))[0]
    description = DatasetDescription.read(fold)
    dim = description.feature_dim

    def example(portion=GENERATED, width=dim):
        return ExampleArrays(id="g0", speaker=GENERATED, corpus="emodb", portion=portion,
                             sample_rate=16000, audio=np.zeros((3, 640), np.int16), label=0,
                             features=np.zeros((3, width), np.float32))

    with pytest.raises(SchemaError, match="not 'generated'"):
        add_generated_portion(fold, [example(portion="train")], {})
    with pytest.raises(SchemaError, match="features per frame"):
        add_generated_portion(fold, [example(width=dim + 1)], {})
    test_id = portion_items(fold, "test")[0].id
    with pytest.raises(SchemaError, match="saw items of the test portion"):
        add_generated_portion(fold, [example()], {"train_ids": [test_id]})
    updated = add_generated_portion(fold, [example()], {"train_ids": []})
    assert updated.portions[GENERATED]["examples"] == 1
    assert updated.normalisation == description.normalisation


@pytest.mark.slow
def test_a_resumed_gan_run_ends_with_the_checkpoint_of_an_uninterrupted_one(folds, tmp_path):
    """Kill-safe: critic optimizer, seed generators and both networks resume exactly."""
    import tensorflow as tf

    from tfemo.train import main as train_main
    from tfemo.training.checkpoints import checkpoint_path

    fold = sorted(folds.glob("fold-*"))[0]
    small = ["--model", "wgan_gp", "--tfrecords", str(fold), "--batch_size", "2",
             "--hidden", "8", "--blocks", "1", "--latent_dim", "2", "--critic_steps", "2",
             "--learning_rate", "1e-3", "--verbose", "0", "--device", "-1"]

    def variables(train_dir):
        reader = tf.train.load_checkpoint(checkpoint_path(train_dir, 4))
        return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}

    assert train_main([*small, "--train_dir", str(tmp_path / "whole"), "--max_steps", "4"]) == 0
    for steps in ("2", "4"):
        assert train_main([*small, "--train_dir", str(tmp_path / "parts"),
                           "--max_steps", steps]) == 0
    whole, parts = variables(tmp_path / "whole"), variables(tmp_path / "parts")
    assert any(n.startswith("model_optimizer_variables") for n in whole)  # the critic's Adam
    assert whole.keys() == parts.keys()
    for name, value in whole.items():
        if "save_counter" not in name and "OBJECT_GRAPH" not in name:  # names only
            np.testing.assert_array_equal(value, parts[name], err_msg=name)
