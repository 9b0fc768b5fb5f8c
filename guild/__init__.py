"""guild-tensorboard: Guild AI's TensorBoard support without Guild."""

__version__ = "0.1.0"
