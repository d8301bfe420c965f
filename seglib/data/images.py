"""Read image files: the bytes, the size their header declares, and the pixels as upright uint8 RGB.

Every image seglib reads (dataset pictures, person-id maps, uploads) goes
through here, so one size limit guards them all: the header is read first, and
a file that declares more than ``MAX_IMAGE_PIXELS`` is refused before its
pixels are allocated (a decompression bomb of a few kilobytes included).

>>> image = read_image("data/synthetic/Training/Images/0000000.jpg")  # doctest: +SKIP
>>> image.shape, image.dtype.name                                     # doctest: +SKIP
((512, 512, 3), 'uint8')
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from seglib.errors import ImageReadError

#: Largest image (width x height) any reader decodes: 40 megapixels, about 120 MB
#: as RGB. The header is read first, so a huge file is refused before its pixels
#: are allocated (one student's 10,000 x 10,000 file must not exhaust the memory
#: every other viewer shares).
MAX_IMAGE_PIXELS = 40_000_000


def read_file_bytes(path: str | os.PathLike) -> np.ndarray:
    """The bytes of an image file as uint8; ``ImageReadError`` naming it when missing, unreadable or empty."""
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # works for non-ASCII names too
    except FileNotFoundError:
        raise ImageReadError(f"{path.name} does not exist.") from None
    except OSError as error:
        raise ImageReadError(f"{path.name} cannot be read: {error.strerror or error}.") from None
    if data.size == 0:
        raise ImageReadError(f"{path.name} is empty (0 bytes). Replace or remove the file.")
    return data


def decode_image_data(data: np.ndarray, name: str, declared: tuple[int, int] | None) -> np.ndarray:
    """Decode file bytes as stored, refusing them when the ``declared`` (width, height) is over the limit.

    ``name`` is the file name the messages show; ``declared`` is ``declared_size(data)``
    (None: unknown, OpenCV decides).
    """
    if declared is not None and declared[0] * declared[1] > MAX_IMAGE_PIXELS:
        raise ImageReadError(
            f"{name} is {declared[0]} x {declared[1]} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; shrink it (or remove it) and reopen the dataset.")
    # IMREAD_UNCHANGED keeps bit depth and alpha and does not apply the EXIF
    # orientation: photos get it applied by ``decode_image_with_notes`` (and say
    # so); masks never do (a mask drawn on the upright photo has no EXIF tag).
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.size == 0:
        raise ImageReadError(f"{name} cannot be decoded: it is corrupt or not an image file.")
    return array


def decode_file(path: str | os.PathLike) -> np.ndarray:
    """Decode a file as stored (no EXIF orientation), refusing huge ones from their header."""
    data = read_file_bytes(path)
    return decode_image_data(data, Path(path).name, declared_size(data))


#: EXIF orientation -> (what it means, how to turn the stored pixels upright),
#: as Pillow's ``ImageOps.exif_transpose`` does.
_ORIENTATIONS = {
    2: ("mirrored", lambda a: a[:, ::-1]),
    3: ("rotated 180 degrees", lambda a: a[::-1, ::-1]),
    4: ("flipped upside down", lambda a: a[::-1]),
    5: ("mirrored and rotated", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90 degrees clockwise", lambda a: np.rot90(a, -1)),
    7: ("mirrored and rotated", lambda a: a[::-1, ::-1].swapaxes(0, 1)),
    8: ("rotated 90 degrees counter-clockwise", lambda a: np.rot90(a, 1)),
}


def _header(data) -> tuple[tuple[int, int] | None, int]:
    """((width, height) or None, EXIF orientation 1..8) from a file's header, no pixels decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(memoryview(data))) as picture:
                size = int(picture.width), int(picture.height)
                try:
                    # Image.getexif, not the PNG plugin's own (which decodes the pixels to find a late tag)
                    orientation = int(Image.Image.getexif(picture).get(0x0112, 1))
                except Exception:  # noqa: BLE001 - a broken EXIF block: no orientation
                    orientation = 1
                return size, orientation if orientation in _ORIENTATIONS else 1
    except Image.DecompressionBombError:
        return _size_beyond_pillow_limit(data), 1
    except Exception:  # noqa: BLE001 - not an image Pillow knows: let OpenCV decide
        return None, 1


def declared_size(data) -> tuple[int, int] | None:
    """(width, height) read from an image file's header, without decoding the pixels.

    Also for files Pillow itself refuses as decompression bombs: the size the
    header declares, so a message can say how big the file claims to be.
    Returns None when the header is not one Pillow knows (OpenCV then decides).
    """
    return _header(data)[0]


def _size_beyond_pillow_limit(data) -> tuple[int, int]:
    """The declared size of a file ``Image.open`` refused as a decompression bomb.

    Pillow checks the size only in ``Image.open``; its format plugins read the
    header without that check, so ask the plugin whose signature matches.
    """
    Image.init()
    prefix = bytes(memoryview(data)[:16])
    for name in list(Image.ID):
        factory, accept = Image.OPEN[name]
        try:
            if accept is not None:
                accepted = accept(prefix)
                if not accepted or isinstance(accepted, str):
                    continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                picture = factory(io.BytesIO(memoryview(data)), "")
            try:
                return int(picture.width), int(picture.height)
            finally:
                picture.close()
        except Exception:  # noqa: BLE001 - not this format: try the next
            continue
    raw = bytes(memoryview(data)[:24])
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR":
        return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    # Pillow found it too large but no plugin says how large: at least over any limit.
    return (2**31, 1)


def to_uint8(array: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``array`` as uint8 (16-bit and float scaled, others clipped) and a note saying how, or None."""
    if array.dtype == np.uint8:
        return array, None
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8), "16-bit scaled to 8-bit"
    if np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float32))
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(finite * scale + 0.5, 0, 255).astype(np.uint8), f"{array.dtype} scaled to 8-bit"
    return np.clip(array, 0, 255).astype(np.uint8), f"{array.dtype} clipped to 8-bit"


def _exif_note(orientation: int) -> str:
    return (f"EXIF orientation {orientation} applied ({_ORIENTATIONS[orientation][0]} to stand upright, "
            "as photo viewers show it; its mask must be drawn on the upright photo)")


def decode_image_with_notes(data, name: str) -> tuple[np.ndarray, list[str]]:
    """The image in a file's bytes as ``read_image_with_notes`` reads it; ``name`` names it in errors."""
    data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    declared, orientation = _header(data)
    array = decode_image_data(data, name, declared)
    notes: list[str] = []
    if orientation != 1:
        array = np.ascontiguousarray(_ORIENTATIONS[orientation][1](array))
        notes.append(_exif_note(orientation))
    array, note = to_uint8(array)
    if note:
        notes.append(note)
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        notes.append(f"{array.shape[2]} channels: the first read as grayscale")
        array = array[..., 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        notes.append("grayscale replicated to RGB")
        return cv2.cvtColor(np.ascontiguousarray(array.reshape(array.shape[:2])), cv2.COLOR_GRAY2RGB), notes
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            notes.append("transparency composited on white")
            rgb = array[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            array = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
        else:
            notes.append("alpha channel dropped")
            array = np.ascontiguousarray(array[..., :3])
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGR2RGB), notes


def read_image_with_notes(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Like ``read_image``, also returning what was converted (for the check report)."""
    return decode_image_with_notes(read_file_bytes(path), Path(path).name)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as uint8 RGB (H, W, 3), turned upright by its EXIF orientation.

    Grayscale is replicated, transparency composited on white, 16-bit scaled to
    8-bit, and a photo's EXIF orientation (phone photos) applied, as photo
    viewers and browsers show it. Raises ``ImageReadError`` (naming the file)
    for missing, empty or corrupt files.
    """
    return read_image_with_notes(path)[0]
