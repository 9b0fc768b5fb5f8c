"""Write scalar, image and hparams summaries to an event file."""

import io
import itertools
import math
import os
import socket
import struct
import time
import zlib

from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from guild_tensorboard.events.regular_files import read_regular
from guild_tensorboard.events.tfevent import EventFileWriter

# TensorBoard's names for hparams summaries (tensorboard.plugins.hparams.
# metadata, whose import brings numpy and the TensorFlow stub: 15 MiB).
HPARAMS_PLUGIN_NAME = "hparams"
HPARAMS_EXPERIMENT_TAG = "_hparams_/experiment"
HPARAMS_SESSION_START_TAG = "_hparams_/session_start_info"
HPARAMS_SESSION_END_TAG = "_hparams_/session_end_info"

# Images with more pixels than this are refused before decoding, and image
# files larger than this before reading.
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 64 * 1024 * 1024

_file_counter = itertools.count()

_STATUS = {
    "completed": api_pb2.STATUS_SUCCESS,
    "terminated": api_pb2.STATUS_SUCCESS,
    "error": api_pb2.STATUS_FAILURE,
    "running": api_pb2.STATUS_RUNNING,
}


class SummaryWriter:
    """Writes summaries to `events.out.tfevents.<base><suffix>` in `logdir`.

    The file is created with the first summary. Summary events carry no
    wall time.
    """

    def __init__(self, logdir, filename_base=None, filename_suffix=""):
        self.logdir = logdir
        base = filename_base or default_filename_base()
        self.filename = f"events.out.tfevents.{base}{filename_suffix}"
        self.path = os.path.join(logdir, self.filename)
        self._writer = None
        self._closed = False

    def add_scalar(self, tag, val, step=None):
        self._add_value(scalar_value(tag, val), step)

    def add_image(self, tag, path):
        """Add the image at `path`, re-encoded as PNG.

        Raises ValueError when the image can't be read or is too large.
        """
        self._add_value(image_value(tag, path))

    def add_hparam_experiment(self, hparams, metrics):
        """Add the hparams experiment.

        `hparams` maps names to the values seen; `metrics` is an
        iterable of tags or `(group, tag)` tuples.
        """
        self._add_value(hparams_experiment_value(hparams, metrics))

    def add_hparam_session_start(self, group_name, hparams, start_time=None):
        """Add a session start; `start_time` is in seconds since the epoch."""
        self._add_value(session_start_value(group_name, hparams, start_time))

    def add_hparam_session_end(self, status, end_time=None):
        """Add a session end for a Guild run `status`."""
        self._add_value(session_end_value(status, end_time))

    def add_hparam_session(
        self, name, hparams, status=None, start_time=None, end_time=None
    ):
        """Add a session start, and its end when `status` is not None."""
        self.add_hparam_session_start(name, hparams, start_time)
        if status is not None:
            self.add_hparam_session_end(status, end_time)

    def flush(self):
        if self._writer and not self._closed:
            self._writer.flush()

    def close(self):
        if self._writer and not self._closed:
            self._writer.close()
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _add_value(self, value, step=None):
        event = event_pb2.Event(step=step or 0)
        event.summary.value.append(value)
        self._event_writer().add_event(event)

    def _event_writer(self):
        if self._closed:
            raise ValueError(f"summary writer for {self.path} is closed")
        if self._writer is None:
            os.makedirs(self.logdir, exist_ok=True)
            self._writer = EventFileWriter(self.path)
        return self._writer


def default_filename_base():
    """`<10-digit unix time>.<host>.<pid>.<process-wide counter>`."""
    return (
        f"{int(time.time()):010d}.{socket.gethostname()}."
        f"{os.getpid()}.{next(_file_counter)}"
    )


def scalar_value(tag, val):
    """Return a `Summary.Value` for a scalar."""
    return summary_pb2.Summary.Value(tag=tag, simple_value=float(val))


def image_value(tag, path):
    """Return a `Summary.Value` for the image at `path`, as PNG.

    Raises ValueError when the image can't be read or is too large.
    """
    return summary_pb2.Summary.Value(tag=tag, image=image_summary(path))


def hparams_experiment_value(hparams, metrics):
    """Return the `_hparams_/experiment` `Summary.Value`.

    `hparams` maps names to the values seen; `metrics` is an iterable of
    tags or `(group, tag)` tuples.
    """
    data = plugin_data_pb2.HParamsPluginData(
        experiment=hparams_experiment(hparams, metrics)
    )
    return hparams_value(HPARAMS_EXPERIMENT_TAG, data)


def session_start_value(group_name, hparams, start_time=None):
    """Return the `_hparams_/session_start_info` `Summary.Value`.

    `hparams` maps names to values (None values are left out);
    `start_time` is in seconds since the epoch.
    """
    data = plugin_data_pb2.HParamsPluginData()
    info = data.session_start_info
    info.SetInParent()
    info.group_name = group_name
    for name, val in sorted(hparams.items()):
        if val is not None:
            set_hparam_value(info.hparams[name], val)
    if start_time is not None:
        info.start_time_secs = start_time
    return hparams_value(HPARAMS_SESSION_START_TAG, data)


def session_end_value(status, end_time=None):
    """Return the `_hparams_/session_end_info` `Summary.Value`.

    `status` is a Guild run status; `end_time` is in seconds since the
    epoch.
    """
    data = plugin_data_pb2.HParamsPluginData()
    info = data.session_end_info
    info.SetInParent()
    info.status = hparam_status(status)
    if end_time is not None:
        info.end_time_secs = end_time
    return hparams_value(HPARAMS_SESSION_END_TAG, data)


def hparams_value(tag, plugin_data):
    """Return a metadata-only hparams `Summary.Value` (no tensor)."""
    value = summary_pb2.Summary.Value(tag=tag)
    value.metadata.plugin_data.plugin_name = HPARAMS_PLUGIN_NAME
    value.metadata.plugin_data.content = plugin_data.SerializeToString()
    return value


def hparam_status(guild_status):
    """Map a Guild run status to an hparams `api_pb2.Status`."""
    return _STATUS.get(guild_status, api_pb2.STATUS_UNKNOWN)


def hparams_experiment(hparams, metrics):
    """Return an `api_pb2.Experiment` for hparams and metric tags."""
    experiment = api_pb2.Experiment()
    for name in sorted(hparams):
        info = experiment.hparam_infos.add(name=name)
        set_hparam_domain(info, list(hparams[name]))
    for group, tag in sorted({metric_name(m) for m in metrics}):
        info = experiment.metric_infos.add()
        info.name.group = group
        info.name.tag = tag
    return experiment


def metric_name(metric):
    """Return `(group, tag)` for a tag or a `(group, tag)` tuple."""
    if isinstance(metric, str):
        return "", metric
    group, tag = metric
    return group or "", tag


def set_hparam_domain(info, values):
    """Set the type and domain of an `api_pb2.HParamInfo` from its values."""
    if not values:
        return
    if all(isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend([True, False])
    elif all(is_number(v) for v in values):
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value = -math.inf
        info.domain_interval.max_value = math.inf
    elif all(isinstance(v, str) for v in values):
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend(sorted(set(values)))


def is_number(val):
    return isinstance(val, (int, float)) and not isinstance(val, bool)


def set_hparam_value(proto_value, val):
    """Set a `google.protobuf.Value` from a flag value."""
    if isinstance(val, bool):
        proto_value.bool_value = val
    elif is_number(val):
        proto_value.number_value = val
    elif isinstance(val, str):
        proto_value.string_value = val
    else:
        proto_value.string_value = str(val)


def image_summary(path):
    """Return a `Summary.Image` for the image at `path`, as PNG.

    Only a regular file of at most `MAX_IMAGE_BYTES` is read (a FIFO or a
    device named like an image is refused before a byte is read). Raises
    ValueError when the image can't be read or is too large.
    """
    try:
        data = read_regular(path, MAX_IMAGE_BYTES)
    except OSError as e:
        raise ValueError(f"cannot read image {path}: {e.strerror or e}") from e
    plain = plain_png(data)
    if plain is not None:
        width, height, bands = plain
        _check_pixels(path, width, height)
        return summary_pb2.Summary.Image(
            height=height, width=width, colorspace=bands, encoded_image_string=data
        )
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ValueError(f"image {path} is too large: {e}") from e
    except Exception as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    with im:
        _check_pixels(path, *im.size)
        try:
            im.load()
            if im.format == "PNG" and im.mode in _PNG_AS_IS_MODES:
                encoded = data  # decoded whole, so sound: its own bytes are the summary
            else:
                im = image_for_summary(im)
                png = io.BytesIO()
                im.save(png, "PNG")
                encoded = png.getvalue()
        except Exception as e:
            raise ValueError(f"cannot read image {path}: {e}") from e
        return summary_pb2.Summary.Image(
            height=im.height,
            width=im.width,
            colorspace=len(im.getbands()),
            encoded_image_string=encoded,
        )


def _check_pixels(path, width, height):
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"image {path} is too large ({width}x{height} pixels, "
            f"limit {MAX_IMAGE_PIXELS})"
        )


# PNG modes TensorBoard shows as they are: 8-bit gray, RGB, with alpha.
_PNG_AS_IS_MODES = ("L", "LA", "RGB", "RGBA")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHUNK = struct.Struct(">I4s")
_PNG_IHDR = struct.Struct(">IIBBBBB")
# PNG color type -> bands, for 8-bit images shown as they are.
_PNG_BANDS = {0: 1, 2: 3, 4: 2, 6: 4}


def plain_png(data):
    """`(width, height, bands)` of PNG bytes `data` that are an 8-bit gray,
    gray+alpha, RGB or RGBA image whose chunks are whole (every CRC good,
    IEND last), read without decoding it; None for anything else, which
    goes to Pillow."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33:
        return None
    width, height, depth, color, _c, _f, interlace = _PNG_IHDR.unpack_from(data, 16)
    if depth != 8 or color not in _PNG_BANDS or data[12:16] != b"IHDR":
        return None
    pos = 8
    n = len(data)
    while pos + 12 <= n:
        length, kind = _PNG_CHUNK.unpack_from(data, pos)
        end = pos + 8 + length
        if end + 4 > n:
            return None
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(data[pos + 4 : end]) != crc:
            return None
        if kind == b"IEND":
            return width, height, _PNG_BANDS[color]
        pos = end + 4
    return None


def image_for_summary(im):
    """Return `im` in one of the modes L, LA, RGB, RGBA, keeping alpha."""
    mode = im.mode
    if mode in ("LA", "RGBA"):
        return im
    alpha = has_alpha(im)
    if mode in ("L", "RGB") and not alpha:
        return im
    if mode in ("1", "L", "La"):
        return im.convert("LA" if alpha else "L")
    if mode.startswith("I;16") or (mode == "I" and im.format == "PNG"):
        # 16-bit gray: Pillow 9 opens such a PNG as "I" (a PNG
        # holds no 32-bit samples); scale the full 16-bit range either way
        return im.convert("I").point(lambda x: x * (1 / 256)).convert("L")
    if mode in ("I", "F"):
        return grayscale_from_numbers(im)
    return im.convert("RGBA" if alpha else "RGB")


def has_alpha(im):
    """Whether `im` has an alpha band or transparency information."""
    if "A" in im.getbands() or "a" in im.getbands():
        return True
    if "transparency" in im.info:
        return True
    return im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"


def grayscale_from_numbers(im):
    """Convert an I or F image to L, scaling values out of 0-255 to fit."""
    lo, hi = im.getextrema()
    if im.mode == "F" and lo >= 0 and hi <= 1:
        return im.point(lambda x: x * 255).convert("L")
    if lo >= 0 and hi <= 255:
        return im.convert("L")
    if hi == lo:
        return im.point(lambda x: x * 0).convert("L")
    scale = 255 / (hi - lo)
    return im.point(lambda x: x * scale - lo * scale).convert("L")
