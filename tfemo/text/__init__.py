"""Text: forced alignment of transcripts and word vectors placed on frames."""
