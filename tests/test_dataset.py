"""Opening dataset folders: both layouts, every kind of bad input, typed errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from seglib.classes import CIHP_PALETTE, IGNORE_LABEL
from seglib.data.dataset import check_dataset, load_pair, open_dataset
from seglib.data.images import read_image
from seglib.data.layout import Pair
from seglib.data.masks import read_mask
from seglib.errors import DatasetError, ImageReadError


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(tiny_dataset, target)
    return target


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def test_opens_the_synthetic_dataset(tiny_dataset):
    dataset = open_dataset(tiny_dataset)
    assert dataset.layout == "cihp" and dataset.name == "synthetic"
    assert len(dataset.split("train")) == 12 and len(dataset.split("validation")) == 4
    assert dataset.problems == []
    pair = dataset.split("train")[0]
    assert pair.image.name == "0000000.jpg" and pair.mask.name == "0000000.png"
    assert pair.human is not None and pair.human.parent.name == "Human_ids"
    np.testing.assert_array_equal(dataset.palette, CIHP_PALETTE)
    assert [p.stem for p in dataset.split("train")] == sorted(p.stem for p in dataset.split("train"))
    with pytest.raises(ValueError, match="Received: split='test'"):
        dataset.split("test")


def test_fingerprint_changes_when_files_change(dataset_copy):
    before = open_dataset(dataset_copy).fingerprint
    assert open_dataset(dataset_copy).fingerprint == before
    (dataset_copy / "Training/Images/0000000.jpg").unlink()
    assert open_dataset(dataset_copy).fingerprint != before


def test_plain_layout_with_non_square_images(tmp_path):
    root = tmp_path / "plain"
    rng = np.random.default_rng(0)
    for stem, (h, w) in {"a": (40, 56), "b": (50, 30)}.items():
        _write(root / "images" / f"{stem}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        blocks = rng.integers(0, 20, (h // 5 + 1, w // 5 + 1), dtype=np.uint8)  # 5 x 5 px regions of ids
        _write(root / "masks" / f"{stem}.png", np.kron(blocks, np.ones((5, 5), np.uint8))[:h, :w])
    dataset = open_dataset(root)
    assert dataset.layout == "plain" and [p.stem for p in dataset.split("train")] == ["a", "b"]
    assert dataset.split("val") == []
    image, mask = load_pair(dataset.split("train")[0])
    assert image.shape == (40, 56, 3) and mask.shape == (40, 56)
    image, mask = load_pair(dataset.split("train")[0], size=(24, 32))
    assert image.shape == (24, 32, 3) and mask.shape == (24, 32)


def test_read_image_converts_gray_rgba_and_16_bit(tmp_path):
    bgr = np.zeros((8, 10, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    assert read_image(_write(tmp_path / "red.png", bgr))[0, 0].tolist() == [200, 0, 0]
    gray = read_image(_write(tmp_path / "gray.png", np.full((8, 10), 77, np.uint8)))
    assert gray.shape == (8, 10, 3) and gray.dtype == np.uint8 and (gray == 77).all()
    deep = read_image(_write(tmp_path / "deep.png", np.full((8, 10, 3), 65535, np.uint16)))
    assert deep.dtype == np.uint8 and (deep == 255).all()
    rgba = np.zeros((8, 10, 4), np.uint8)  # fully transparent black -> white
    assert (read_image(_write(tmp_path / "rgba.png", rgba)) == 255).all()
    rgba[..., 3] = 255
    assert (read_image(_write(tmp_path / "opaque.png", rgba)) == 0).all()


def test_read_mask_maps_out_of_range_labels_to_ignore(tmp_path):
    mask = np.array([[0, 19, 20, 255]], np.uint8)
    assert read_mask(_write(tmp_path / "m.png", mask)).tolist() == [[0, 19, IGNORE_LABEL, IGNORE_LABEL]]
    wide = np.array([[3, 300]], np.uint16)
    assert read_mask(_write(tmp_path / "m16.png", wide)).tolist() == [[3, IGNORE_LABEL]]
    colour = np.zeros((1, 3, 3), np.uint8)
    colour[0, 1] = CIHP_PALETTE[13][::-1]   # Face, as BGR
    colour[0, 2] = (1, 2, 3)                 # not a palette colour
    assert read_mask(_write(tmp_path / "colour.png", colour)).tolist() == [[0, 13, IGNORE_LABEL]]


def test_read_errors_name_the_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match=r"empty\.jpg is empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match=r"junk\.png cannot be decoded"):
        read_mask(tmp_path / "junk.png")
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "missing.jpg")


def test_load_pair_resizes_masks_with_nearest_neighbour_only(tiny_dataset):
    pair = open_dataset(tiny_dataset).split("train")[0]
    _, original = load_pair(pair)
    for size in (17, 40, 100):
        image, mask = load_pair(pair, size=size)
        assert image.shape == (size, size, 3) and mask.shape == (size, size)
        assert set(np.unique(mask)) <= set(np.unique(original))


def test_bad_files_are_skipped_and_listed(dataset_copy):
    train = dataset_copy / "Training"
    (train / "Images/0000001.jpg").write_bytes(b"")                          # zero bytes
    (train / "Category_ids/0000002.png").write_bytes(b"\x89PNG broken")       # corrupt
    (train / "Category_ids/0000003.png").unlink()                            # unpaired image
    _write(train / "Category_ids/9999999.png", np.zeros((64, 64), np.uint8))  # unpaired mask
    few_bad = cv2.imread(str(train / "Category_ids/0000004.png"), cv2.IMREAD_UNCHANGED)
    few_bad[:2, :32] = 42
    _write(train / "Category_ids/0000004.png", few_bad)                       # a few labels >= 20
    _write(train / "Category_ids/0000007.png", np.full((64, 64), 42, np.uint8))  # only labels >= 20
    _write(train / "Category_ids/0000005.png", np.zeros((32, 64), np.uint8))  # size mismatch
    (train / "Images/0000006.jpg").unlink()
    _write(train / "Images/0000006.png", np.full((64, 64), 9000, np.uint16))  # 16-bit gray

    quick = open_dataset(dataset_copy)  # no decoding: names and sizes only
    kinds = {p.kind for p in quick.problems}
    assert kinds == {"empty-file", "unpaired-image", "unpaired-mask"}
    assert len(quick.split("train")) == 10

    report = check_dataset(dataset_copy)
    by_kind = {}
    for problem in report.problems:
        by_kind.setdefault(problem.kind, []).append(problem)
    assert set(by_kind) == {"empty-file", "unpaired-image", "unpaired-mask", "unreadable", "size-mismatch",
                            "bad-labels", "converted", "unlabelled-mask"}
    assert by_kind["unreadable"][0].path == "Training/Category_ids/0000002.png"
    assert "64 pixels" in by_kind["bad-labels"][0].message
    assert [p.path for p in by_kind["unlabelled-mask"]] == ["Training/Category_ids/0000007.png"]
    assert "100% of its pixels have values >= 20" in by_kind["unlabelled-mask"][0].message
    assert [p.stem for p in report.dataset.split("train")] == \
        ["0000000", "0000004", "0000006", "0000008", "0000009", "0000010", "0000011"]
    assert len(report.dataset.split("val")) == 4
    text = report.format()
    assert "size-mismatch" in text and "Training/Category_ids/0000002.png" in text
    assert str(dataset_copy.parent) not in text, "reports never show absolute server paths"


def test_nothing_usable_raises_a_typed_error_naming_the_folder(tmp_path):
    with pytest.raises(DatasetError, match="'nowhere' does not exist"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No dataset found in 'empty'.*Expected"):
        open_dataset(tmp_path / "empty")
    broken = tmp_path / "broken"
    (broken / "Training/Images").mkdir(parents=True)
    (broken / "Training/Category_ids").mkdir(parents=True)
    (broken / "Training/Images/a.jpg").write_bytes(b"junk")
    (broken / "Training/Category_ids/a.png").write_bytes(b"junk")
    assert len(open_dataset(broken).split("train")) == 1  # the cheap open does not decode
    with pytest.raises(DatasetError, match="No usable image/mask pairs in 'broken'") as caught:
        check_dataset(broken)
    assert str(tmp_path) not in str(caught.value)
    assert [p.kind for p in caught.value.problems] == ["unreadable"]
    only_images = tmp_path / "only_images"
    (only_images / "Training/Images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="missing-folder"):
        open_dataset(only_images)


def test_one_layout_test_for_opening_and_for_the_list_of_datasets(tmp_path, monkeypatch):
    from seglib.data.layout import dataset_key, detect_layout, find_datasets

    root = tmp_path / "root"
    for folder in ("cihp/Training/Images", "cihp/Training/Category_ids", "course/plain/images",
                   "course/plain/masks", "notes/text"):
        (root / folder).mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "images").mkdir(parents=True)
    (outside / "masks").mkdir()
    (root / "sneaky").symlink_to(outside)
    monkeypatch.setenv("SEGLIB_DATA_ROOTS", str(root))
    assert detect_layout(root / "cihp") == ("cihp", {"train": root / "cihp" / "Training"})
    assert detect_layout(root / "cihp" / "Training") == ("cihp", {"train": root / "cihp" / "Training"})
    assert detect_layout(root / "course" / "plain") == ("plain", {"train": root / "course" / "plain"})
    assert detect_layout(root / "notes") is None and detect_layout(root / "course") is None
    # The split folder inside a dataset and the symlink that leads outside the roots are not listed.
    assert find_datasets() == {"cihp": (root / "cihp").resolve(), "course/plain": (root / "course/plain").resolve()}
    assert dataset_key((root / "course/plain").resolve()) == "course/plain"


def test_check_cli_prints_the_report(dataset_copy, capsys):
    from seglib.cli.main import main

    (dataset_copy / "Training/Images/0000001.jpg").write_bytes(b"")
    assert main(["data", "check", str(dataset_copy)]) == 0
    out = capsys.readouterr().out
    assert "train: 11 usable pairs" in out and "empty-file" in out
    assert main(["data", "check", str(dataset_copy.parent / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_pair_is_a_small_value_object(tiny_dataset):
    pair = open_dataset(tiny_dataset).split("val")[0]
    assert isinstance(pair, Pair) and pair == Pair(pair.stem, pair.image, pair.mask, pair.human)


# ---------------------------------------------------------------------------
# masks that are not label ids are refused (issue M, item 4)
# ---------------------------------------------------------------------------

def _plain_pairs(root: Path, masks: dict[str, np.ndarray], writer=None) -> Path:
    """images/<stem>.png (black, the mask's size) and masks/<stem>.png for each mask."""
    for stem, mask in masks.items():
        _write(root / "images" / f"{stem}.png", np.zeros((*mask.shape[:2], 3), np.uint8))
        (writer or _write)(root / "masks" / f"{stem}.png", mask)
    return root


def _jpeg_bytes_as(path: Path, array: np.ndarray, quality: int = 90) -> Path:
    """JPEG content under whatever name ``path`` has (e.g. a .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _synthetic_mask(size: int = 64, index: int = 0) -> np.ndarray:
    from seglib.data.synth import render_sample

    for offset in range(50):  # a mask with a fair share of people in it
        mask = render_sample(size=size, seed=3, split="train", index=index + offset)[1]
        if (mask > 0).mean() > 0.15:
            return mask
    raise AssertionError("no crowded synthetic mask")


def _as_bgr(ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(palette[ids][..., ::-1])


def _problems(report, kind: str) -> list:
    return [p for p in report.problems if p.kind == kind]


def test_colour_masks_in_another_palette_are_refused(tmp_path):
    from seglib.classes import COLORBLIND_PALETTE

    ids = _synthetic_mask()
    path = _write(tmp_path / "blind.png", _as_bgr(ids, COLORBLIND_PALETTE))
    with pytest.raises(ImageReadError, match=r"blind\.png.*outside the CIHP palette.*PNG") as caught:
        read_mask(path)
    assert "colour-blind" in str(caught.value)
    root = _plain_pairs(tmp_path / "blind", {"ok": ids, "blind": _as_bgr(ids, COLORBLIND_PALETTE)})
    report = check_dataset(root)
    (refused,) = _problems(report, "unknown-colours")
    assert refused.path == "masks/blind.png" and refused.skipped
    assert [p.stem for p in report.dataset.split("train")] == ["ok"]
    # exact CIHP colours are still read as ids, and say so
    assert (read_mask(_write(tmp_path / "cihp.png", _as_bgr(ids, CIHP_PALETTE))) == ids).all()


def test_cihp_colour_masks_saved_as_jpeg_are_refused(tmp_path):
    ids = _synthetic_mask()
    colour = _as_bgr(ids, CIHP_PALETTE)
    lossy = cv2.imdecode(cv2.imencode(".jpg", colour)[1], cv2.IMREAD_COLOR)
    with pytest.raises(ImageReadError, match=r"again\.png: \d+% of its pixels are colours outside"):
        read_mask(_write(tmp_path / "again.png", lossy))            # JPEG once, then saved as PNG
    with pytest.raises(ImageReadError, match=r"named\.png is a JPEG file.*re-export it as PNG"):
        read_mask(_jpeg_bytes_as(tmp_path / "named.png", colour))    # JPEG content, .png name


def test_grey_masks_saved_as_lossy_jpeg_are_refused(tmp_path):
    ids = _synthetic_mask()
    with pytest.raises(ImageReadError, match=r"grey\.png is a JPEG file.*lossy.*re-export it as PNG"):
        read_mask(_jpeg_bytes_as(tmp_path / "grey.png", ids))
    large = _synthetic_mask(128)  # artefacts are judged on masks of 128 px and more
    lossy = cv2.imdecode(cv2.imencode(".jpg", large, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_UNCHANGED)
    assert (lossy != large).mean() > 0.05 and lossy.max() < 40  # wrong but mostly valid ids
    with pytest.raises(ImageReadError, match=r"resaved\.png.*lossy.*re-export"):
        read_mask(_write(tmp_path / "resaved.png", lossy))
    assert (read_mask(_write(tmp_path / "clean.png", large)) == large).all()
    root = _plain_pairs(tmp_path / "lossy", {"clean": ids})
    _write(root / "images" / "grey.png", np.zeros((64, 64, 3), np.uint8))
    _jpeg_bytes_as(root / "masks" / "grey.png", ids)
    report = check_dataset(root)
    assert [p.path for p in _problems(report, "lossy-mask")] == ["masks/grey.png"]
    assert _problems(report, "bad-labels") == []
    assert [p.stem for p in report.dataset.split("train")] == ["clean"]


def test_jpg_masks_are_reported_as_not_png(tmp_path):
    ids = _synthetic_mask()
    root = _plain_pairs(tmp_path / "jpgmasks", {"good": ids})
    _write(root / "images" / "photo.png", np.zeros((64, 64, 3), np.uint8))
    _write(root / "masks" / "photo.jpg", ids)
    dataset = open_dataset(root)
    (problem,) = [p for p in dataset.problems if p.path == "masks/photo.jpg"]
    assert problem.kind == "lossy-mask" and "must be PNG" in problem.message and problem.skipped
    assert not [p for p in dataset.problems if p.kind == "unpaired-image"], "reported once, as the .jpg mask"
    assert [p.stem for p in dataset.split("train")] == ["good"]


def test_masks_without_labelled_pixels_are_refused_and_an_empty_split_is_named(tmp_path):
    ids = _synthetic_mask()
    mostly = ids.copy()
    mostly[:48] = IGNORE_LABEL
    with pytest.raises(ImageReadError, match=r"void\.png.*no labelled pixel"):
        read_mask(_write(tmp_path / "void.png", np.full((64, 64), IGNORE_LABEL, np.uint8)))
    with pytest.raises(ImageReadError, match=r"high\.png: 100% of its pixels have values >= 20"):
        read_mask(_write(tmp_path / "high.png", np.full((64, 64), 42, np.uint8)))
    with pytest.raises(ImageReadError, match=r"mostly\.png: 7\d% of its pixels carry the ignore label"):
        read_mask(_write(tmp_path / "mostly.png", mostly))

    root = tmp_path / "cihp"
    for split, mask in (("Training", ids), ("Validation", np.full((64, 64), IGNORE_LABEL, np.uint8))):
        _write(root / split / "Images" / "a.png", np.zeros((64, 64, 3), np.uint8))
        _write(root / split / "Category_ids" / "a.png", mask)
    report = check_dataset(root)
    (empty,) = _problems(report, "empty-split")
    assert "val split" in empty.message and "no labelled" in empty.message
    assert report.dataset.split("val") == [] and len(report.dataset.split("train")) == 1
    (root / "Training/Category_ids/a.png").write_bytes(
        (root / "Validation/Category_ids/a.png").read_bytes())
    with pytest.raises(DatasetError, match="No usable image/mask pairs"):
        check_dataset(root)


# ---------------------------------------------------------------------------
# phone photos: EXIF orientation (issue M, item 5)
# ---------------------------------------------------------------------------

def _exif_image(path: Path, array_rgb: np.ndarray, orientation: int, fmt: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array_rgb).save(path, format=fmt, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_images_like_pillow_does(tmp_path, orientation):
    from PIL import Image, ImageOps

    raw = np.random.default_rng(orientation).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    path = _exif_image(tmp_path / "phone.png", raw, orientation)
    with Image.open(path) as picture:
        expected = np.asarray(ImageOps.exif_transpose(picture).convert("RGB"))
    from seglib.data.images import read_image_with_notes

    image, notes = read_image_with_notes(path)
    np.testing.assert_array_equal(image, expected)
    assert any("EXIF orientation" in note for note in notes) == (orientation != 1)


def test_phone_photos_pair_with_masks_drawn_on_the_upright_view(tmp_path):
    raw = np.zeros((120, 128, 3), np.uint8)           # stored 128 wide, 120 high
    raw[:10, :, 0] = 255                              # a red band along the top of the stored pixels
    upright_mask = np.zeros((128, 120), np.uint8)     # drawn on the upright photo: 120 wide, 128 high
    upright_mask[20:60, 30:90] = 5
    root = tmp_path / "phone"
    _exif_image(root / "images" / "phone.jpg", raw, 6, "JPEG")  # 6: rotate 90 degrees clockwise to view
    _write(root / "masks" / "phone.png", upright_mask)
    report = check_dataset(root)
    assert _problems(report, "size-mismatch") == []
    assert any("EXIF orientation" in p.message for p in _problems(report, "converted"))
    image, mask = load_pair(report.dataset.split("train")[0])
    assert image.shape == (128, 120, 3) and mask.shape == (128, 120)
    assert image[:, -10:, 0].mean() > 200, "the top band is on the right after a clockwise turn"
    # masks are never rotated, even if they carry an orientation tag
    tagged = _exif_image(tmp_path / "tagged_mask.png", np.dstack([upright_mask] * 3), 6)
    assert read_mask(tagged).shape == (128, 120)


def test_transposed_sizes_name_exif_orientation_as_the_likely_cause(tmp_path):
    root = tmp_path / "sideways"
    _write(root / "images" / "side.png", np.zeros((12, 16, 3), np.uint8))
    _write(root / "masks" / "side.png", np.zeros((16, 12), np.uint8))
    report = check_dataset_allowing_empty(root)
    (problem,) = _problems(report, "size-mismatch")
    assert "16x12 px but its mask is 12x16 px" in problem.message and "EXIF orientation" in problem.message
    pair = Pair("side", root / "images/side.png", root / "masks/side.png")
    with pytest.raises(ImageReadError, match="EXIF orientation"):
        load_pair(pair)


def check_dataset_allowing_empty(root: Path):
    """check_dataset, or the problems of the DatasetError when nothing is left."""
    from seglib.data.dataset import CheckReport, Dataset

    try:
        return check_dataset(root)
    except DatasetError as error:
        return CheckReport(Dataset(root=root, layout="plain", splits={}, problems=error.problems))


# ---------------------------------------------------------------------------
# decompression bombs: the real declared size (issue M, item 7)
# ---------------------------------------------------------------------------

def _png_header_only(path: Path, width: int, height: int) -> Path:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_declared_size_of_a_decompression_bomb_is_its_real_size(tmp_path):
    from seglib.data.images import declared_size

    path = _png_header_only(tmp_path / "bomb20000.png", 20000, 20000)
    assert declared_size(path.read_bytes()) == (20000, 20000)
    assert declared_size(np.fromfile(str(path), np.uint8)) == (20000, 20000)
    assert declared_size(_png_header_only(tmp_path / "wide.png", 300000, 1000).read_bytes()) == (300000, 1000)
    with pytest.raises(ImageReadError, match=r"bomb20000\.png is 20000 x 20000 pixels"):
        read_image(path)
    assert declared_size(b"not an image") is None
