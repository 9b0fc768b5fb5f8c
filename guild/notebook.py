"""TensorBoard over Guild runs from a notebook (Jupyter, IPython):
`notebook.start(...)`, `display()`, `stop()`."""

from guild_tensorboard.serving.notebook import NotebookTensorBoard, running, start, stop_all  # noqa: F401
