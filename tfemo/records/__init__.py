"""Records: the TFRecord schema, dataset description, shard writer and tf.data reader."""
