#!/usr/bin/env python3
"""Writes the seed corpus of the `decode` fuzz target into seeds/decode/.

Tiny generated images (no photographs, no copies of shared test data) covering each decoder path
that `idgate_face::image::decode` reaches: JPEG baseline/progressive, 4:2:0/4:4:4, greyscale; PNG
RGB/RGBA/grey/grey+alpha/palette/16-bit/interlaced; JPEG 2000 raw codestream and JP2, lossless and
lossy, greyscale and RGB. Then the hostile shapes: truncated files and headers that declare huge
dimensions over a few bytes of data. Needs Pillow with JPEG 2000 support (OpenJPEG).

Run from crates/idgate-face/fuzz: `python3 make_seeds.py`.
"""

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent / "seeds" / "decode"


def gradient(mode, w, h):
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 37) % 256, (y * 53) % 256, ((x + y) * 19) % 256) for y in range(h) for x in range(w)])
    return img.convert(mode)


def encode(img, fmt, **opts):
    buf = io.BytesIO()
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_size(width, height):
    """A PNG whose IHDR declares `width x height` RGB8 (valid CRCs) over one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_with_size(data, width, height):
    """Rewrites the frame header (SOF0/SOF2) of a JPEG to declare `width x height`."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            # FFCn, Lf (2), P (1), Y (2), X (2).
            return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]
    raise ValueError("no SOF marker")


def j2k_with_size(data, width, height):
    """Rewrites the SIZ marker of a JPEG 2000 codestream (raw or inside JP2) to declare
    `width x height` as one tile."""
    at = data.find(b"\xff\x51")
    # FF51, Lsiz (2), Rsiz (2), Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz (4 each).
    fields = struct.pack(">IIIIII", width, height, 0, 0, width, height)
    return data[: at + 6] + fields + data[at + 30 :]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    seeds = {}
    rgb = gradient("RGB", 16, 12)
    grey = gradient("L", 9, 7)

    seeds["jpeg_baseline_420.jpg"] = encode(rgb, "JPEG", quality=70, subsampling=2)
    seeds["jpeg_baseline_444.jpg"] = encode(rgb, "JPEG", quality=90, subsampling=0)
    seeds["jpeg_progressive.jpg"] = encode(rgb, "JPEG", quality=60, progressive=True)
    seeds["jpeg_grey_odd_size.jpg"] = encode(grey, "JPEG", quality=80)
    seeds["jpeg_restart_intervals.jpg"] = encode(rgb, "JPEG", quality=75, restart_marker_blocks=1)

    seeds["png_rgb.png"] = encode(rgb, "PNG")
    seeds["png_rgba.png"] = encode(gradient("RGBA", 5, 4), "PNG")
    seeds["png_grey.png"] = encode(grey, "PNG")
    seeds["png_grey_alpha.png"] = encode(gradient("LA", 4, 3), "PNG")
    seeds["png_palette.png"] = encode(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8), "PNG")
    seeds["png_grey16.png"] = encode(grey.convert("I;16"), "PNG")
    seeds["png_interlaced.png"] = encode(rgb, "PNG", interlace=1)

    seeds["j2k_rgb_lossless.j2k"] = encode(rgb, "JPEG2000", no_jp2=True, irreversible=False)
    seeds["j2k_rgb_lossy.j2k"] = encode(rgb, "JPEG2000", no_jp2=True, irreversible=True, quality_layers=[40])
    seeds["jp2_grey.jp2"] = encode(grey, "JPEG2000")
    seeds["jp2_rgb_tiled.jp2"] = encode(rgb, "JPEG2000", tile_size=(8, 8), num_resolutions=2)

    # Truncations: each decoder's premature end of data.
    for name in ("jpeg_baseline_420.jpg", "png_rgb.png", "j2k_rgb_lossless.j2k", "jp2_grey.jp2"):
        stem, ext = name.rsplit(".", 1)
        seeds[f"{stem}_truncated.{ext}"] = seeds[name][: len(seeds[name]) // 2]

    # Headers declaring sizes over the caps (or over the format's own limits) on tiny data.
    seeds["jpeg_huge_sof.jpg"] = jpeg_with_size(seeds["jpeg_baseline_420.jpg"], 65535, 65535)
    seeds["jpeg_over_pixel_cap.jpg"] = jpeg_with_size(seeds["jpeg_baseline_444.jpg"], 8000, 8000)
    seeds["png_huge_ihdr.png"] = png_with_size(1_000_000, 1_000_000)
    seeds["png_over_pixel_cap.png"] = png_with_size(8000, 8000)
    seeds["j2k_huge_siz.j2k"] = j2k_with_size(seeds["j2k_rgb_lossless.j2k"], 100_000, 100_000)
    seeds["jp2_over_pixel_cap.jp2"] = j2k_with_size(seeds["jp2_grey.jp2"], 8000, 8000)

    for name, data in sorted(seeds.items()):
        (OUT / name).write_bytes(data)
        print(f"{len(data):6d}  {name}")


if __name__ == "__main__":
    main()
