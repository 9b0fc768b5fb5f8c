"""Regenerates the images of the `image-summaries` sample project.

    python samples/make_images.py

`favicon.png`: 180x180 RGBA, a rounded blue square with a white "G" on a
transparent background. `heart.jpg`: 50x50 RGB, a red heart on white.
Drawn with Pillow primitives only (no fonts), so the output is the same on
every machine with the same Pillow version.
"""

import math
import os

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "projects", "image-summaries")

SCALE = 4  # draw large, then downsample for smooth edges


def favicon():
    size = 180 * SCALE
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    pad = 8 * SCALE
    draw.rounded_rectangle(
        (pad, pad, size - pad, size - pad), radius=36 * SCALE, fill=(37, 99, 235, 255)
    )
    _draw_g(draw, size / 2, size / 2, 52 * SCALE, 18 * SCALE, (255, 255, 255, 255))
    return img.resize((180, 180), Image.LANCZOS)


def _draw_g(draw, cx, cy, radius, thickness, fill):
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    # The ring, open at the upper right (angles run clockwise from 3 o'clock).
    draw.arc(box, start=0, end=315, fill=fill, width=int(thickness))
    # The bar, from the centre to the ring's right side.
    half = thickness / 2
    draw.rectangle((cx, cy - half, cx + radius, cy + half), fill=fill)


def heart():
    size = 50 * SCALE
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    points = []
    for i in range(360):
        t = math.radians(i)
        x = 16 * math.sin(t) ** 3
        y = (
            13 * math.cos(t)
            - 5 * math.cos(2 * t)
            - 2 * math.cos(3 * t)
            - math.cos(4 * t)
        )
        points.append((size / 2 + x * size / 38, size / 2 - y * size / 38 - size / 30))
    draw.polygon(points, fill=(220, 20, 40))
    return img.resize((50, 50), Image.LANCZOS)


def main():
    favicon().save(os.path.join(PROJECT, "favicon.png"), optimize=True)
    heart().save(os.path.join(PROJECT, "heart.jpg"), quality=90)


if __name__ == "__main__":
    main()
