"""Write scalar, image and hparams summaries to an event file."""

from guild_tensorboard.events.summary import (  # noqa: F401
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    SummaryWriter,
    default_filename_base,
    hparam_status,
    hparams_experiment,
    hparams_experiment_value,
    image_summary,
    image_value,
    scalar_value,
    session_end_value,
    session_start_value,
)
