"""Audio: loading, resampling, framing and synthesis."""

SAMPLE_RATE = 16_000
FRAME_SECONDS = 0.04
FRAME_LENGTH = int(SAMPLE_RATE * FRAME_SECONDS)  # 640 samples per 40 ms frame
