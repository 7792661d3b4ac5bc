"""Write small PNG and JPEG fixtures, and what impart must read in them.

Usage::

    python3 data-scripts/make_image_fixtures.py [OUT_DIR]

``OUT_DIR`` defaults to ``tests/data/images`` (relative to the crate root);
the set is small (about 750 KiB) and committed. It needs NumPy and pyvips
(``data-scripts/requirements-impart.txt``, with Debian's ``libvips42``:
``data-scripts/install-libvips.sh``). The PNG files are deterministic;
the JPEG files are libjpeg-turbo's output (through libvips), so a different
libjpeg may write other bytes: the expectations are computed from whatever
files are written.

PNG files are written by this script's own encoder (``zlib`` and
``struct``, following the PNG specification), never by the code under
test, so that every color type and bit depth can be covered, with
``tRNS`` chunks, palettes, Adam7 interlacing, all five filter types and
the image data split over several ``IDAT`` chunks. The expected pixels are
computed here from the same source arrays with the rules the ``image``
crate's decoding (and impart's) follows: palette entries looked up (RGB,
or RGBA with the ``tRNS`` alphas), 1/2/4-bit gray scaled to 8 bits
(``v * 255 / (2^bits - 1)``), a ``tRNS`` key on gray or RGB turned into an
alpha channel (0 where the pixel equals the key, full otherwise), 16-bit
samples kept. Every PNG is also decoded by libvips (libspng or libpng),
whose pixels must equal the expectation: the script fails otherwise.

JPEG files are written by libvips (libjpeg-turbo) from smooth synthetic
pictures: baseline 4:2:0 and 4:4:4, progressive, gray, with restart
markers, CMYK. Their expectation is libvips's decode; impart's decoder is
not libjpeg, so the Rust test allows the recorded ``max_abs_error`` (and
compares bit for bit with the ``image`` crate's decode, the decoder impart
replaces). CMYK has no libvips expectation (libvips keeps CMYK, impart
converts to RGB as ``image`` does).

Hostile and damaged files (``kind: "bad"``) come with the error impart
must give: truncated files, a header claiming 2^31-1 x 2^31-1 pixels over
a few bytes of data, corrupt compressed data, an arithmetic-coded and a
12-bit JPEG.

Expected pixels are stored as raw little-endian bytes in C order (height,
width, channels) in ``<name>.expected``.
"""

import json
import os
import struct
import sys
import zlib

import numpy as np
import pyvips

H, W = 37, 53


def chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def pack_row(samples: np.ndarray, bits: int) -> bytes:
    """One row of samples (1-D, already interleaved) at `bits` per sample."""
    if bits == 16:
        return samples.astype(">u2").tobytes()
    if bits == 8:
        return samples.astype(np.uint8).tobytes()
    out = bytearray()
    per = 8 // bits
    for i in range(0, len(samples), per):
        byte = 0
        group = samples[i:i + per]
        for k, v in enumerate(group):
            byte |= int(v) << (8 - bits * (k + 1))
        out.append(byte)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp: int, first_filter: int) -> bytes:
    """Filters each packed row with filter (first_filter + y) % 5."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ftype = (first_filter + y) % 5
        f = bytearray(len(row))
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ftype]
            f[i] = (x - pred) & 0xFF
        out.append(ftype)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(path, stored: np.ndarray, color_type: int, bits: int, *,
              palette=None, trns=None, interlace=False, idat_size=97,
              first_filter=0):
    """`stored`: (H, W, samples) of the values as stored (palette indices,
    low-bit gray values, 16-bit values)."""
    h, w, spp = stored.shape
    bpp = max(1, spp * bits // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for n, (x0, y0, dx, dy) in enumerate(passes):
        sub = stored[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        rows = [pack_row(sub[y].reshape(-1), bits) for y in range(sub.shape[0])]
        raw += filter_rows(rows, bpp, first_filter + n)
    data = zlib.compress(bytes(raw), 9)
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, color_type, 0,
                                      0, 1 if interlace else 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"tEXt", b"Comment\x00written by make_image_fixtures.py")
    for i in range(0, len(data), idat_size):
        out += chunk(b"IDAT", data[i:i + idat_size])
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)
    return bytes(out)


def pattern(h, w, c, levels):
    y, x, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c),
                          indexing="ij")
    return ((y * 31 + x * 7 + k * 101 + (x * y) // 3) % levels).astype(np.int64)


def vips_pixels(path):
    img = pyvips.Image.new_from_file(path, access="sequential")
    a = img.numpy()
    if a.ndim == 2:
        a = a[:, :, None]
    return a


def png_cases(out):
    cases = []

    def add(name, stored, color_type, bits, expected, **kw):
        path = os.path.join(out, name + ".png")
        write_png(path, stored, color_type, bits, **kw)
        dtype = "u16" if expected.dtype == np.uint16 else "u8"
        with open(os.path.join(out, name + ".expected"), "wb") as f:
            f.write(expected.astype("<u2" if dtype == "u16" else np.uint8).tobytes())
        got = vips_pixels(path)
        if got.shape != expected.shape or not np.array_equal(got, expected):
            raise SystemExit(f"{name}: libvips reads {got.shape} {got.dtype}, "
                             f"not the expected {expected.shape}")
        cases.append({
            "name": name, "file": name + ".png", "kind": "valid", "format": "png",
            "color_type": color_type, "bit_depth": bits,
            "interlaced": bool(kw.get("interlace", False)),
            "shape": list(expected.shape), "dtype": dtype,
            "expected": name + ".expected", "lossy": False,
        })

    for interlace in (False, True):
        tag = "_adam7" if interlace else ""
        ff = 2 if interlace else 0
        # gray at every depth
        for bits in (1, 2, 4, 8, 16):
            levels = 1 << bits
            v = pattern(H, W, 1, levels)
            exp = (v.astype(np.uint16) if bits == 16
                   else (v * 255 // (levels - 1)).astype(np.uint8))
            add(f"gray{bits}{tag}", v, 0, bits, exp, interlace=interlace,
                first_filter=ff)
        # gray with a tRNS key: an alpha channel
        for bits in (2, 8, 16):
            levels = 1 << bits
            v = pattern(H, W, 1, levels)
            key = int(v[3, 5, 0])
            if bits == 16:
                g = v.astype(np.uint16)
                a = np.where(v == key, 0, 65535).astype(np.uint16)
            else:
                g = (v * 255 // (levels - 1)).astype(np.uint8)
                a = np.where(v == key, 0, 255).astype(np.uint8)
            add(f"gray{bits}_trns{tag}", v, 0, bits,
                np.concatenate([g, a], axis=2),
                trns=struct.pack(">H", key), interlace=interlace,
                first_filter=ff)
        for bits in (8, 16):
            dt = np.uint16 if bits == 16 else np.uint8
            levels = 1 << bits
            ga = pattern(H, W, 2, levels)
            add(f"gray_alpha{bits}{tag}", ga, 4, bits, ga.astype(dt),
                interlace=interlace, first_filter=ff + 1)
            rgb = pattern(H, W, 3, levels)
            add(f"rgb{bits}{tag}", rgb, 2, bits, rgb.astype(dt),
                interlace=interlace, first_filter=ff + 2)
            rgba = pattern(H, W, 4, levels)
            add(f"rgba{bits}{tag}", rgba, 6, bits, rgba.astype(dt),
                interlace=interlace, first_filter=ff + 3)
            # RGB with a tRNS key
            key = rgb[2, 7]
            alpha = np.where((rgb == key).all(axis=2, keepdims=True),
                             0, levels - 1)
            add(f"rgb{bits}_trns{tag}", rgb, 2, bits,
                np.concatenate([rgb, alpha], axis=2).astype(dt),
                trns=struct.pack(">HHH", *map(int, key)),
                interlace=interlace, first_filter=ff + 4)
        # palettes at every depth, without and with tRNS alphas
        for bits in (1, 2, 4, 8):
            n = 1 << bits
            idx = pattern(H, W, 1, n)
            pal = np.array([[(i * 37) % 256, (i * 91 + 17) % 256, 255 - i]
                            for i in range(n)], np.uint8)
            add(f"palette{bits}{tag}", idx, 3, bits, pal[idx[:, :, 0]],
                palette=pal, interlace=interlace, first_filter=ff)
            # alphas for the first entries only (the rest are opaque)
            alphas = np.array([(i * 53) % 256 for i in range(max(1, n // 2))],
                              np.uint8)
            full = np.concatenate([alphas, np.full(n - len(alphas), 255, np.uint8)])
            rgba = np.concatenate([pal[idx[:, :, 0]], full[idx[:, :, 0]][:, :, None]],
                                  axis=2)
            add(f"palette{bits}_trns{tag}", idx, 3, bits, rgba, palette=pal,
                trns=alphas.tobytes(), interlace=interlace, first_filter=ff)
    return cases


def picture(h, w, bands):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        128 + 90 * np.sin(x / 9.0) * np.cos(y / 13.0),
        128 + 80 * np.sin((x + y) / 17.0),
        96 + 60 * np.cos(y / 7.0) + ((x.astype(int) ^ y.astype(int)) & 15),
        64 + 40 * np.sin(x / 5.0 + y / 11.0),
    ]
    return np.clip(np.stack(planes[:bands], axis=2), 0, 255).astype(np.uint8)


def jpeg_cases(out):
    cases = []
    specs = [
        ("jpeg_rgb_420", 3, dict(Q=90)),
        ("jpeg_rgb_444", 3, dict(Q=92, subsample_mode="off")),
        ("jpeg_rgb_progressive", 3, dict(Q=88, interlace=True)),
        ("jpeg_rgb_restart", 3, dict(Q=85, restart_interval=2)),
        ("jpeg_gray", 1, dict(Q=90)),
        ("jpeg_gray_progressive", 1, dict(Q=90, interlace=True)),
        ("jpeg_cmyk", 4, dict(Q=95)),
    ]
    for name, bands, opts in specs:
        h, w = (61, 83) if bands != 1 else (45, 71)
        src = picture(h, w, bands)
        img = pyvips.Image.new_from_array(src)
        img = img.copy(interpretation={1: "b-w", 3: "srgb", 4: "cmyk"}[bands])
        path = os.path.join(out, name + ".jpg")
        img.jpegsave(path, strip=True, **opts)
        case = {"name": name, "file": name + ".jpg", "kind": "valid",
                "format": "jpeg", "lossy": True,
                "progressive": bool(opts.get("interlace", False))}
        if bands == 4:
            # impart (as image) converts CMYK to RGB; libvips keeps CMYK
            case.update(shape=[h, w, 3], dtype="u8", expected=None)
        else:
            got = vips_pixels(path)
            with open(os.path.join(out, name + ".expected"), "wb") as f:
                f.write(got.astype(np.uint8).tobytes())
            err = int(np.abs(got.astype(int) - src.astype(int)).max())
            case.update(shape=list(got.shape), dtype="u8",
                        expected=name + ".expected",
                        # impart's decoder (zune-jpeg) is not libjpeg-turbo:
                        # IDCT and chroma upsampling differ in the last bits
                        max_abs_error=4 if bands == 3 else 2,
                        source_max_abs_error=err)
        cases.append(case)
    return cases


def bad_cases(out):
    cases = []

    def bad(name, data, error):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        cases.append({"name": name.rsplit(".", 1)[0], "file": name,
                      "kind": "bad", "error": error})

    good = open(os.path.join(out, "rgb8.png"), "rb").read()
    # cut inside an IDAT chunk
    bad("bad_truncated_idat.png", good[:len(good) // 2], "Truncated")
    # all IDAT chunks but the last one
    last_idat = good.rfind(b"IDAT") - 4
    bad("bad_truncated_chunk_boundary.png", good[:last_idat], "Truncated")
    # a header claiming 2^31-1 x 2^31-1 RGB pixels over 12 bytes of data
    huge = bytearray(b"\x89PNG\r\n\x1a\n")
    huge += chunk(b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 2, 0, 0, 0))
    huge += chunk(b"IDAT", zlib.compress(b"\x00" * 16))
    huge += chunk(b"IEND", b"")
    bad("bad_huge_header.png", bytes(huge), "InvalidHeader")
    # a chunk length beyond PNG's 2^31-1
    long = bytearray(good[:33])
    long += struct.pack(">I", 0x8000_0000) + b"IDAT"
    bad("bad_chunk_length.png", bytes(long) + b"\x00" * 64, "InvalidHeader")
    # corrupt compressed data (with a right CRC): a decode error
    rows = filter_rows([bytes(range(10))] * 4, 3, 0)
    broken = bytearray(zlib.compress(rows))
    broken[3] ^= 0xFF
    corrupt = bytearray(b"\x89PNG\r\n\x1a\n")
    corrupt += chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 4, 8, 2, 0, 0, 0))
    corrupt += chunk(b"IDAT", bytes(broken))
    corrupt += chunk(b"IEND", b"")
    bad("bad_zlib.png", bytes(corrupt), "Decode")
    # a flipped byte in image data: the CRC does not match
    flipped = bytearray(good)
    first_idat = good.find(b"IDAT") + 4
    flipped[first_idat + 5] ^= 0x55
    bad("bad_crc.png", bytes(flipped), "Decode")

    jpg = open(os.path.join(out, "jpeg_rgb_420.jpg"), "rb").read()
    bad("bad_truncated.jpg", jpg[:len(jpg) * 2 // 3], "Truncated")
    bad("bad_no_eoi.jpg", jpg[:-2], "Truncated")
    # SOF0 claiming 65535 x 65535 over a few hundred bytes of scan data
    sof = jpg.find(b"\xff\xc0")
    claim = bytearray(jpg)
    claim[sof + 5:sof + 9] = struct.pack(">HH", 65535, 65535)
    sos = claim.find(b"\xff\xda")
    seg = struct.unpack(">H", claim[sos + 2:sos + 4])[0]
    start = sos + 2 + seg
    claim = claim[:start + 300] + b"\xff\xd9"
    bad("bad_huge_header.jpg", bytes(claim), "InvalidHeader")
    # arithmetic coding (SOF9), which zune-jpeg does not decode
    arith = bytearray(jpg)
    arith[sof + 1] = 0xC9
    bad("bad_arithmetic.jpg", bytes(arith), "Unsupported")
    # 12-bit samples, which zune-jpeg does not decode
    twelve = bytearray(jpg)
    twelve[sof + 4] = 12
    bad("bad_12bit.jpg", bytes(twelve), "Unsupported")
    return cases


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "images")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    cases = png_cases(out) + jpeg_cases(out)
    cases += bad_cases(out)
    doc = {
        "format": "impart image fixtures 1",
        "generator": "data-scripts/make_image_fixtures.py",
        "numpy": np.__version__,
        "pyvips": pyvips.__version__,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "cases": cases,
    }
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# PNG and JPEG fixtures\n\nWritten by "
                "`data-scripts/make_image_fixtures.py`; do not edit by hand. "
                "That script's docstring:\n\n" + __doc__)
    print(f"{len(cases)} cases in {out}")


if __name__ == "__main__":
    main()
