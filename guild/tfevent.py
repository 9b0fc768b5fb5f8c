"""TensorFlow event files: write events, read events and scalars."""

from guild_tensorboard.events.tfevent import (  # noqa: F401
    FILE_VERSION,
    EventFileWriter,
    EventReader,
    ScalarReader,
    event_files,
    event_files_digest,
    read_events,
    scalar_readers,
    tensor_scalar,
)
