"""On-the-fly augmentation of the training stream: seeded, off by default, one setting each.

Applied by `tfemo.training.loop.training_stream` to the train batches only; devel and test
(tfemo.eval, predict) read the records unchanged, and augmentation never sees a label.

- SpecAugment masks on `features` [B, T, F] (`freq_mask`, `time_mask`, `mask_count` of each
  kind per utterance, drawn with tensorflow-io): a masked value becomes the train-set mean of
  its feature (0 with --normalise speaker), which the model's standardiser maps to 0, as
  SpecAugment's zeros on normalised log-mels. Masks fall on real frames only.
- Waveform augmentation on `audio` [B, T, frame_length] (`speed`, `gain_db`, `noise_snr`):
  for the models that read raw audio frames (semantic_fusion). The hand-crafted features are
  computed with NumPy/librosa by make_tfrecords and cannot be recomputed inside tf.data, so
  feature models (conv1d, gru_regressor, multimodal) take the masks only; asking for waveform
  augmentation with them is an error. Speed perturbation resamples each utterance's real
  samples (tfemo.audio.polyphase; tfio.audio.resample was 30 x slower) and stretches every
  per-frame key (labels, words, mask) by nearest frame, so the labels stay on their audio.

Everything is a TF op in one sequential `map` over the batches (no Python per element). Its
graph seed is fixed and the stateful draws (tensorflow-io's masks use TF's stateful RNG)
happen in order, batch after batch and row after row (map_fn with parallel_iterations=1),
so the same seed gives the same augmented stream, and a resumed run (which skips the steps
taken) sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfemo.audio import polyphase, tfio_ops
from tfemo.records.schema import FRAME_FEATURES

WAVEFORM = ("speed", "gain_db", "noise_snr")
MASKS = ("freq_mask", "time_mask")


def settings(train: Any) -> dict[str, Any]:
    """The augmentation settings that are on ({} when none is): they fix the stream."""
    on = {name: getattr(train, name) for name in (*MASKS, *WAVEFORM) if getattr(train, name)}
    if on:
        on["seed"] = train.augment_seed or train.seed
        if any(name in on for name in MASKS):
            on["mask_count"] = train.mask_count
    return on


def check(train: Any, keys: tuple[str, ...]) -> None:
    """ValueError for settings that cannot apply to a model reading batch keys `keys`."""
    for name in ("noise_snr", "gain_db"):
        value = getattr(train, name)
        if value and (len(value) != 2 or value[0] > value[1]):
            raise ValueError(f"--{name} takes LOW,HIGH (dB) with LOW <= HIGH, got {value}")
    if train.speed and min(train.speed) <= 0:
        raise ValueError(f"--speed takes positive percentages, got {train.speed}")
    if min(train.freq_mask, train.time_mask) < 0 or train.mask_count < 1:
        raise ValueError("--freq_mask and --time_mask must be >= 0 and --mask_count >= 1")
    waveform = [f"--{name}" for name in WAVEFORM if getattr(train, name)]
    if waveform and "audio" not in keys:
        raise ValueError(f"{', '.join(waveform)} change the waveform, but this model reads "
                         f"{', '.join(keys)}: its features are computed by make_tfrecords and "
                         "cannot be recomputed in the pipeline (use --freq_mask/--time_mask)")
    if (train.freq_mask or train.time_mask) and "features" not in keys:
        raise ValueError(f"--freq_mask/--time_mask mask per-frame features, but this model "
                         f"reads {', '.join(keys)}")


def fill_values(description: Any, speaker_normalised: bool) -> list[float]:
    """What a masked feature becomes: its train-set mean (0 after per-speaker scaling)."""
    if speaker_normalised:
        return [0.0] * description.feature_dim
    return [float(v) for v in description.normalisation["features"]["mean"]]


def _keep_mask(frames: tf.Tensor, total: tf.Tensor, dims: int, train: Any) -> tf.Tensor:
    """[total, dims] float: 0 where one utterance of `frames` real frames is masked, else 1."""
    real = tf.maximum(frames, 1)  # a row always has frames; never draw from an empty range
    keep = tf.ones([real, dims])
    for _ in range(train.mask_count):
        if train.freq_mask:
            keep = tfio_ops.freq_mask(keep, min(train.freq_mask, dims))
        if train.time_mask:
            keep = tfio_ops.time_mask(keep, tf.minimum(train.time_mask, real))
    keep = keep[:frames]
    return tf.pad(keep, [[0, total - frames], [0, 0]], constant_values=1.0)


def mask_features(batch: dict[str, tf.Tensor], train: Any, fill: list[float]) -> dict:
    """The batch with SpecAugment masks on the real frames of every row's `features`."""
    features = batch["features"]
    total, dims = tf.shape(features)[1], features.shape[-1]
    keep = tf.map_fn(lambda n: _keep_mask(n, total, dims, train), batch["num_frames"],
                     fn_output_signature=tf.TensorSpec([None, dims], tf.float32),
                     parallel_iterations=1)  # rows draw in order: reproducible
    batch = dict(batch)
    batch["features"] = tf.where(keep > 0, features, tf.constant(fill, features.dtype))
    return batch


def _perturb_row(row: dict[str, tf.Tensor], total_out: tf.Tensor, train: Any,
                 frame_keys: tuple[str, ...]) -> dict[str, tf.Tensor]:
    """One utterance: speed, gain and noise on its real samples; other frame keys stretched."""
    frames = row["num_frames"]
    frame_length = row["audio"].shape[-1]
    wave = tf.reshape(row["audio"][:frames], [-1])
    factor = tf.constant(1.0)
    if train.speed:
        choice = tf.random.uniform([], 0, len(train.speed), dtype=tf.int32)
        factor = tf.constant([p / 100.0 for p in train.speed])[choice]
        branches = [lambda p=p: polyphase.resample(wave, *polyphase.ratio(p))
                    for p in train.speed]
        wave = tf.switch_case(choice, branches)
    if train.gain_db:
        gain = tf.random.uniform([], float(train.gain_db[0]), float(train.gain_db[1]) + 1e-6)
        wave = wave * tf.pow(10.0, gain / 20.0)
    if train.noise_snr:
        snr = tf.random.uniform([], float(train.noise_snr[0]), float(train.noise_snr[1]) + 1e-6)
        power = tf.reduce_mean(tf.square(wave))
        noise = tf.random.normal(tf.shape(wave)) * tf.sqrt(power / tf.pow(10.0, snr / 10.0))
        wave = wave + noise
    wave = tf.clip_by_value(wave, -1.0, 32767.0 / 32768.0)
    out_frames = tf.minimum((tf.size(wave) + frame_length - 1) // frame_length, total_out)
    wave = wave[: out_frames * frame_length]
    wave = tf.pad(wave, [[0, out_frames * frame_length - tf.size(wave)]])
    out = {"audio": tf.pad(tf.reshape(wave, [out_frames, frame_length]),
                           [[0, total_out - out_frames], [0, 0]])}
    # output frame i holds the audio of source frame i * factor: carry its labels and words
    source = tf.minimum(tf.cast(tf.floor(tf.cast(tf.range(out_frames), tf.float32) * factor),
                                tf.int32), frames - 1)
    for key in frame_keys:
        value = tf.gather(row[key], source)
        out[key] = tf.pad(value, [[0, total_out - out_frames]] + [[0, 0]] * (value.shape.rank - 1))
    out["mask"] = tf.range(total_out) < out_frames
    out["num_frames"] = out_frames
    return out


def perturb_waveforms(batch: dict[str, tf.Tensor], train: Any) -> dict[str, tf.Tensor]:
    """The batch with every row's waveform perturbed; rows may grow by 1 / min(speed)."""
    frame_keys = tuple(k for k in batch if k in FRAME_FEATURES and k != "audio")
    total = tf.shape(batch["audio"])[1]
    slowest = min(train.speed) / 100.0 if train.speed else 1.0
    total_out = tf.cast(tf.math.ceil(tf.cast(total, tf.float32) / min(slowest, 1.0)), tf.int32)
    rows = {k: batch[k] for k in (*frame_keys, "audio", "num_frames")}
    spec = {k: tf.TensorSpec([None, *batch[k].shape[2:]], batch[k].dtype)
            for k in (*frame_keys, "audio")}
    spec.update(mask=tf.TensorSpec([None], tf.bool), num_frames=tf.TensorSpec([], tf.int32))
    out = tf.map_fn(lambda row: _perturb_row(row, total_out, train, frame_keys), rows,
                    fn_output_signature=spec, parallel_iterations=1)
    return {**batch, **out}


def augment(data: tf.data.Dataset, train: Any, description: Any,
            keys: tuple[str, ...]) -> tf.data.Dataset:
    """The train batches augmented as `train` says (unchanged when every setting is off)."""
    on = settings(train)
    if not on:
        return data
    check(train, keys)
    seed = on["seed"]
    masks = bool(train.freq_mask or train.time_mask)
    fill = fill_values(description, train.normalise == "speaker") if masks else []
    waveform = any(getattr(train, name) for name in WAVEFORM)

    def apply(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        # a fixed graph seed gives every stateful draw below (tensorflow-io's too) a fixed op
        # seed; the sequential map keeps their order, so the stream is reproducible
        tf.compat.v1.get_default_graph().seed = seed
        if waveform:
            batch = perturb_waveforms(batch, train)
        if masks:
            batch = mask_features(batch, train, fill)
        return batch

    return data.map(apply).prefetch(tf.data.AUTOTUNE)  # sequential: draws in a fixed order


__all__ = ["augment", "check", "settings"]
