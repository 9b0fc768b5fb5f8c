import io
import math
import os
import re
import socket
import struct
import zlib

import pytest
from PIL import Image
from tensorboard import context
from tensorboard.backend.event_processing import (
    data_provider,
    event_file_loader,
    plugin_event_multiplexer,
)
from tensorboard.plugins.hparams import api_pb2, metadata

from guild_tensorboard.events import summary
from guild_tensorboard.events.summary import MAX_IMAGE_PIXELS, SummaryWriter, hparam_status
from guild_tensorboard.events.tfevent import EventReader


def only_file(logdir):
    (name,) = os.listdir(logdir)
    return os.path.join(logdir, name)


def events(logdir):
    return list(EventReader(logdir))


def values(logdir):
    return [value for event in events(logdir) for value in event.summary.value]


# File naming


def test_default_filename(tmp_path):
    logdir = tmp_path / "logs"
    writer1 = SummaryWriter(str(logdir))
    writer2 = SummaryWriter(str(logdir))
    assert not logdir.exists()  # created on first write
    with writer1, writer2:
        writer1.add_scalar("x", 1)
        writer2.add_scalar("x", 2)
    names = sorted(os.listdir(logdir))
    pattern = r"events\.out\.tfevents\.(\d{10})\.%s\.%i\.(\d+)" % (
        re.escape(socket.gethostname()),
        os.getpid(),
    )
    counters = []
    for name in names:
        m = re.fullmatch(pattern, name)
        assert m, name
        counters.append(int(m.group(2)))
    assert len(set(counters)) == 2


def test_filename_base_and_suffix(tmp_path):
    with SummaryWriter(str(tmp_path), "0000000001", ".time") as writer:
        writer.add_scalar("x", 1)
    assert os.listdir(tmp_path) == ["events.out.tfevents.0000000001.time"]


def test_no_write_no_file(tmp_path):
    with SummaryWriter(str(tmp_path / "logs")) as writer:
        writer.flush()
    assert not (tmp_path / "logs").exists()


def test_closed_writer_refuses_writes(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("x", 1)
    writer.close()
    writer.close()
    writer.flush()
    with pytest.raises(ValueError, match="closed"):
        writer.add_scalar("x", 2)
    assert [v.simple_value for v in values(tmp_path)] == [1.0]


# Scalars


def test_add_scalar(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("loss", 1.5, 3)
        writer.add_scalar("acc", 2)
    all_events = list(EventReader(tmp_path, all_events=True))
    assert all_events[0].file_version == "brain.Event:2"
    assert all_events[0].wall_time > 0
    summaries = all_events[1:]
    assert [
        (e.step, e.summary.value[0].tag, e.summary.value[0].simple_value)
        for e in summaries
    ] == [(3, "loss", 1.5), (0, "acc", 2.0)]
    assert all(e.wall_time == 0 for e in summaries)
    assert str(summaries[1]) == (
        'summary {\n  value {\n    tag: "acc"\n    simple_value: 2\n  }\n}\n'
    )


def test_tensorboard_loads_scalars(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        for step in range(3):
            writer.add_scalar("loss", step / 2, step)
    loader = event_file_loader.LegacyEventFileLoader(only_file(tmp_path))
    loaded = [
        (e.step, v.tag, v.simple_value)
        for e in loader.Load()
        for v in e.summary.value
    ]
    assert loaded == [(0, "loss", 0.0), (1, "loss", 0.5), (2, "loss", 1.0)]


# HParams


def hparams_value(logdir, tag):
    (value,) = [v for v in values(logdir) if v.tag == tag]
    assert value.metadata.plugin_data.plugin_name == "hparams"
    return value


def test_hparam_experiment(tmp_path):
    hparams = {
        "lr": [0.1, 1, 0.01],
        "name": ["b", "a", "b"],
        "flag": [True, False, True],
        "mixed": [1, "a"],
        "num_bool": [1, True],
        "none": [None],
        "empty": [],
    }
    metrics = ["loss", ("eval", "acc"), ("", "acc"), "loss"]
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparam_experiment(hparams, metrics)
    value = hparams_value(tmp_path, metadata.EXPERIMENT_TAG)
    exp = metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
    infos = {info.name: info for info in exp.hparam_infos}
    assert [info.name for info in exp.hparam_infos] == sorted(hparams)

    lr = infos["lr"]
    assert lr.type == api_pb2.DATA_TYPE_FLOAT64
    assert lr.WhichOneof("domain") == "domain_interval"
    assert lr.domain_interval.min_value == -math.inf
    assert lr.domain_interval.max_value == math.inf

    name = infos["name"]
    assert name.type == api_pb2.DATA_TYPE_STRING
    assert [v.string_value for v in name.domain_discrete.values] == ["a", "b"]

    flag = infos["flag"]
    assert flag.type == api_pb2.DATA_TYPE_BOOL
    assert [v.bool_value for v in flag.domain_discrete.values] == [True, False]
    kinds = {v.WhichOneof("kind") for v in flag.domain_discrete.values}
    assert kinds == {"bool_value"}

    for name in ("mixed", "num_bool", "none", "empty"):
        assert infos[name].type == api_pb2.DATA_TYPE_UNSET
        assert infos[name].WhichOneof("domain") is None

    assert [(m.name.group, m.name.tag) for m in exp.metric_infos] == [
        ("", "acc"),
        ("", "loss"),
        ("eval", "acc"),
    ]


def test_hparam_session(tmp_path):
    hparams = {
        "lr": 0.1,
        "n": 3,
        "flag": True,
        "name": "x",
        "list": [1, 2],
        "none": None,
    }
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparam_session(
            "abc123 train", hparams, "completed", start_time=100.5, end_time=200.25
        )
    start = hparams_value(tmp_path, metadata.SESSION_START_INFO_TAG)
    info = metadata.parse_session_start_info_plugin_data(
        start.metadata.plugin_data.content
    )
    assert info.group_name == "abc123 train"
    assert info.start_time_secs == 100.5
    assert info.hparams["lr"].number_value == 0.1
    assert info.hparams["n"].number_value == 3
    assert info.hparams["flag"].bool_value is True
    assert info.hparams["name"].string_value == "x"
    assert info.hparams["list"].string_value == "[1, 2]"
    assert "none" not in info.hparams

    end = hparams_value(tmp_path, metadata.SESSION_END_INFO_TAG)
    end_info = metadata.parse_session_end_info_plugin_data(
        end.metadata.plugin_data.content
    )
    assert end_info.status == api_pb2.STATUS_SUCCESS
    assert end_info.end_time_secs == 200.25


def test_hparam_session_without_status(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparam_session("g", {})
    (value,) = values(tmp_path)
    assert value.tag == metadata.SESSION_START_INFO_TAG
    info = metadata.parse_session_start_info_plugin_data(
        value.metadata.plugin_data.content
    )
    assert info.group_name == "g"
    assert info.start_time_secs == 0
    assert not info.hparams


@pytest.mark.parametrize(
    "status, expected",
    [
        ("completed", api_pb2.STATUS_SUCCESS),
        ("terminated", api_pb2.STATUS_SUCCESS),
        ("error", api_pb2.STATUS_FAILURE),
        ("running", api_pb2.STATUS_RUNNING),
        ("pending", api_pb2.STATUS_UNKNOWN),
        ("staged", api_pb2.STATUS_UNKNOWN),
        (None, api_pb2.STATUS_UNKNOWN),
    ],
)
def test_hparam_session_end_status(tmp_path, status, expected):
    assert hparam_status(status) == expected
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparam_session_end(status)
    value = hparams_value(tmp_path, metadata.SESSION_END_INFO_TAG)
    info = metadata.parse_session_end_info_plugin_data(
        value.metadata.plugin_data.content
    )
    assert info.status == expected
    assert info.end_time_secs == 0


def test_hparams_event_form(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_hparam_experiment({"x": [1]}, ["y"])
        writer.add_hparam_session("g", {"x": 1}, "error")
    printed = [str(event) for event in events(tmp_path)]
    assert len(printed) == 3
    for text in printed:
        assert "wall_time" not in text
        assert "tensor" not in text
        assert "step" not in text
        assert re.fullmatch(
            r'summary \{\n  value \{\n    tag: "_hparams_/\w+"\n'
            r"    metadata \{\n      plugin_data \{\n"
            r'        plugin_name: "hparams"\n        content: ".*"\n'
            r"      \}\n    \}\n  \}\n\}\n",
            text,
            re.S,
        ), text


def test_tensorboard_loads_hparams(tmp_path):
    run = tmp_path / "run"
    with SummaryWriter(str(run)) as writer:
        writer.add_hparam_experiment({"x": [1, 2]}, ["y"])
        writer.add_hparam_session("g", {"x": 1}, "completed", 1.0, 2.0)
        writer.add_scalar("y", 1.0)
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    content = mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    assert sorted(content["run"]) == [
        metadata.EXPERIMENT_TAG,
        metadata.SESSION_END_INFO_TAG,
        metadata.SESSION_START_INFO_TAG,
    ]
    exp = metadata.parse_experiment_plugin_data(
        content["run"][metadata.EXPERIMENT_TAG]
    )
    assert [info.name for info in exp.hparam_infos] == ["x"]


# Images


def save(im, path, *args, **kw):
    im.save(path, *args, **kw)
    return str(path)


def noise(mode, size):
    bands = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, size, os.urandom(size[0] * size[1] * bands))


def rgba_png(tmp_path):
    return save(noise("RGBA", (30, 20)), tmp_path / "rgba.png")


def rgb_jpeg(tmp_path):
    return save(noise("RGB", (16, 8)), tmp_path / "rgb.jpg")


def palette_png(tmp_path):
    return save(noise("RGB", (10, 12)).convert("P"), tmp_path / "palette.png")


def palette_transparent_png(tmp_path):
    im = noise("RGB", (10, 12)).convert("P")
    return save(im, tmp_path / "palette-t.png", transparency=0)


def gray16_png(tmp_path):
    im = Image.new("I;16", (7, 5), 0)
    im.putpixel((0, 0), 65535)
    im.putpixel((1, 0), 32768)
    return save(im, tmp_path / "gray16.png")


def cmyk_jpeg(tmp_path):
    return save(Image.new("CMYK", (9, 4), (0, 255, 255, 0)), tmp_path / "cmyk.jpg")


def gray_png(tmp_path):
    return save(noise("L", (5, 5)), tmp_path / "gray.png")


def gray_alpha_png(tmp_path):
    return save(noise("LA", (5, 6)), tmp_path / "la.png")


def bilevel_png(tmp_path):
    return save(Image.new("1", (8, 8), 1), tmp_path / "bilevel.png")


def float_tiff(tmp_path):
    im = Image.new("F", (4, 4), 0.0)
    im.putpixel((0, 0), 1.0)
    return save(im, tmp_path / "float.tif")


@pytest.mark.parametrize(
    "make, size, colorspace",
    [
        (rgba_png, (30, 20), 4),
        (rgb_jpeg, (16, 8), 3),
        (palette_png, (10, 12), 3),
        (palette_transparent_png, (10, 12), 4),
        (gray16_png, (7, 5), 1),
        (cmyk_jpeg, (9, 4), 3),
        (gray_png, (5, 5), 1),
        (gray_alpha_png, (5, 6), 2),
        (bilevel_png, (8, 8), 1),
        (float_tiff, (4, 4), 1),
    ],
)
def test_add_image(tmp_path, make, size, colorspace):
    path = make(tmp_path)
    logdir = tmp_path / "logs"
    with SummaryWriter(str(logdir)) as writer:
        writer.add_image("img", path)
    (event,) = events(logdir)
    assert event.step == 0 and event.wall_time == 0
    image = event.summary.value[0].image
    assert (image.width, image.height, image.colorspace) == (*size, colorspace)
    decoded = Image.open(io.BytesIO(image.encoded_image_string))
    assert decoded.format == "PNG"
    assert decoded.size == size
    assert len(decoded.getbands()) == colorspace


def decoded_image(logdir, tag):
    (value,) = [v for v in values(logdir) if v.tag == tag]
    return Image.open(io.BytesIO(value.image.encoded_image_string))


def test_image_conversions_keep_content(tmp_path):
    logdir = tmp_path / "logs"
    with SummaryWriter(str(logdir)) as writer:
        writer.add_image("gray16", gray16_png(tmp_path))
        writer.add_image("cmyk", cmyk_jpeg(tmp_path))
        writer.add_image("float", float_tiff(tmp_path))
        writer.add_image("rgba", rgba_png(tmp_path))
    gray = decoded_image(logdir, "gray16")
    assert gray.getpixel((0, 0)) == 255
    assert gray.getpixel((1, 0)) == 128
    assert gray.getpixel((2, 0)) == 0
    red = decoded_image(logdir, "cmyk").getpixel((0, 0))
    assert red[0] > 200 and red[1] < 50 and red[2] < 50
    assert decoded_image(logdir, "float").getpixel((0, 0)) == 255
    original = Image.open(tmp_path / "rgba.png")
    assert decoded_image(logdir, "rgba").tobytes() == original.tobytes()


def test_tensorboard_serves_images(tmp_path):
    run = tmp_path / "run"
    with SummaryWriter(str(run)) as writer:
        writer.add_image("rgba.png", rgba_png(tmp_path))
        writer.add_image("rgb.jpg", rgb_jpeg(tmp_path))
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(tmp_path))
    ctx = context.RequestContext()
    listed = provider.list_blob_sequences(ctx, experiment_id="", plugin_name="images")
    assert sorted(listed["run"]) == ["rgb.jpg", "rgba.png"]
    read = provider.read_blob_sequences(
        ctx, experiment_id="", plugin_name="images", downsample=10
    )
    sizes = {}
    for tag, data in read["run"].items():
        (datum,) = data
        assert datum.step == 0
        width, height, png = (
            provider.read_blob(ctx, blob_key=ref.blob_key) for ref in datum.values
        )
        im = Image.open(io.BytesIO(png))
        assert im.size == (int(width), int(height))
        sizes[tag] = im.size, len(im.getbands())
    assert sizes == {"rgba.png": ((30, 20), 4), "rgb.jpg": ((16, 8), 3)}


def png_header(width, height):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def truncated_png(tmp_path):
    data = open(rgba_png(tmp_path), "rb").read()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make_data, message",
    [
        (lambda tmp_path: os.urandom(1000), "cannot read image"),
        (lambda tmp_path: b"", "cannot read image"),
        (truncated_png, "cannot read image"),
        (lambda tmp_path: png_header(30000, 30000), "too large"),
        (lambda tmp_path: png_header(8000, 8000), "too large"),
    ],
    ids=["random", "empty", "truncated", "bomb", "over-limit"],
)
def test_bad_images_raise_value_error(tmp_path, make_data, message):
    path = tmp_path / "bad.png"
    path.write_bytes(make_data(tmp_path))
    logdir = tmp_path / "logs"
    with SummaryWriter(str(logdir)) as writer:
        with pytest.raises(ValueError) as exc:
            writer.add_image("bad", str(path))
    assert message in str(exc.value)
    assert str(path) in str(exc.value)
    assert not logdir.exists()


def test_missing_image_raises_value_error(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        with pytest.raises(ValueError, match="cannot read image"):
            writer.add_image("x", str(tmp_path / "missing.png"))


def test_pixel_limit():
    assert 8000 * 8000 > MAX_IMAGE_PIXELS


def test_value_functions_match_writer(tmp_path):
    image = rgba_png(tmp_path)
    expected = [
        summary.scalar_value("x", 1),
        summary.image_value("img", image),
        summary.hparams_experiment_value({"x": [1]}, ["x"]),
        summary.session_start_value("g", {"x": 1}, 10.0),
        summary.session_end_value("error", 20.0),
    ]
    logdir = tmp_path / "logs"
    with SummaryWriter(str(logdir)) as writer:
        writer.add_scalar("x", 1)
        writer.add_image("img", image)
        writer.add_hparam_experiment({"x": [1]}, ["x"])
        writer.add_hparam_session("g", {"x": 1}, "error", 10.0, 20.0)
    assert values(logdir) == expected


def test_plain_png_is_read_without_decoding(tmp_path):
    from guild_tensorboard.events.summary import plain_png

    path = tmp_path / "a.png"
    Image.new("RGBA", (5, 3), (1, 2, 3, 4)).save(path)
    data = path.read_bytes()
    assert plain_png(data) == (5, 3, 4)
    assert summary.image_summary(str(path)).encoded_image_string == data
    broken = bytearray(data)
    broken[-20] ^= 0xFF  # inside a chunk: its CRC no longer matches
    assert plain_png(bytes(broken)) is None
    assert plain_png(data[:-12]) is None  # no IEND
    Image.new("P", (2, 2)).save(path)  # palette: converted by Pillow
    assert plain_png(path.read_bytes()) is None


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_special_files_named_like_images_are_refused_unread(tmp_path, kind):
    path = tmp_path / "live.png"
    if kind == "fifo":
        os.mkfifo(path)  # a plain open() of it would block for ever
    elif kind == "device":
        os.symlink("/dev/zero", path)  # a plain read() of it would never end
    else:
        path.mkdir()
    with pytest.raises(ValueError, match="cannot read image .*live.png: not a regular file"):
        summary.image_summary(str(path))


def test_image_files_over_the_size_bound_are_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(path)
    monkeypatch.setattr(summary, "MAX_IMAGE_BYTES", path.stat().st_size - 1)
    with pytest.raises(ValueError, match="more than the"):
        summary.image_summary(str(path))


def test_hparams_tag_names_are_tensorboards():
    from tensorboard.plugins.hparams import metadata

    from guild_tensorboard.events import summary

    assert summary.HPARAMS_PLUGIN_NAME == metadata.PLUGIN_NAME
    assert summary.HPARAMS_EXPERIMENT_TAG == metadata.EXPERIMENT_TAG
    assert summary.HPARAMS_SESSION_START_TAG == metadata.SESSION_START_INFO_TAG
    assert summary.HPARAMS_SESSION_END_TAG == metadata.SESSION_END_INFO_TAG
