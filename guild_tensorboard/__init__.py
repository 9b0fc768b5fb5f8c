"""guild-tensorboard: Guild AI's TensorBoard support without Guild."""

__version__ = "0.2.0"
