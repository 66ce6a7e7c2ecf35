"""On-disk data set loaders, each on a tiny fake tree in the real file formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semcom_bench import registry
from semcom_bench.data.cityscapes_labels import to_train_ids
from semcom_bench.errors import UserError
from semcom_bench.specs import parse_spec


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    return np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def official_resize(image: Image.Image, labels: Image.Image, size: int, keep_aspect: bool):
    """The SDM/GESCO ``resize_arr``, written out for comparison."""
    while min(*image.size) >= 2 * size:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    if keep_aspect:
        scale = size / min(*image.size)
        image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.BICUBIC)
    else:
        image = image.resize((size, size), resample=Image.BICUBIC)
    return np.array(image), np.array(labels.resize(image.size, resample=Image.NEAREST))


# ------------------------------------------------------------------------------ Cityscapes


def make_cityscapes(root: Path, split: str = "val", h: int = 64, w: int = 128) -> dict:
    """Two frames of one city: labelIds (8-bit), instanceIds (16-bit) and images (RGB PNG)."""
    out = {}
    for i, city in enumerate(["aachen", "aachen", "bochum"]):
        stem = f"{city}_{i:06d}_000019"
        img_dir = root / "leftImg8bit" / split / city
        gt_dir = root / "gtFine" / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        gt_dir.mkdir(parents=True, exist_ok=True)
        labels = np.full((h, w), 23, np.uint8)  # sky
        labels[h // 2 :] = 7  # road
        inst = labels.astype(np.int32)
        labels[h // 2 : h // 2 + 16, 8:40] = 26  # car 0
        inst[h // 2 : h // 2 + 16, 8:40] = 26000
        labels[h // 2 : h // 2 + 16, 40:72] = 26  # car 1, touching car 0
        inst[h // 2 : h // 2 + 16, 40:72] = 26001
        labels[8:40, 100:108] = 24  # a person
        inst[8:40, 100:108] = 24000 + i
        labels[h - 4 :, :] = 1  # ego vehicle
        inst[h - 4 :, :] = 1
        image = _rgb(h, w, i)
        Image.fromarray(image).save(img_dir / f"{stem}_leftImg8bit.png")
        Image.fromarray(labels, mode="L").save(gt_dir / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(inst.astype(np.uint16)).save(gt_dir / f"{stem}_gtFine_instanceIds.png")
        out[stem] = (image, labels, inst)
    return out


def test_cityscapes_loads_resizes_like_the_official_code(tmp_path):
    raw = make_cityscapes(tmp_path)
    # the 16-bit instance file really is 16-bit
    with Image.open(next((tmp_path / "gtFine").rglob("*_instanceIds.png"))) as im:
        assert im.mode.startswith("I")
    ds = registry.datasets.create("cityscapes", root=str(tmp_path), height=16, width=32)
    assert len(ds) == 3 and ds.num_classes == 35 and len(ds.class_names) == 35
    keys = [s.key for s in ds]
    assert keys == ["val/aachen_000000_000019", "val/aachen_000001_000019", "val/bochum_000002_000019"]
    s = ds[0]
    image, labels, inst = raw["aachen_000000_000019"]
    ref_img, ref_lab = official_resize(Image.fromarray(image), Image.fromarray(labels), 16, keep_aspect=True)
    assert s.image.shape == (16, 32, 3) and s.image.dtype == np.uint8
    assert np.array_equal(s.image, ref_img)
    assert np.array_equal(s.labels, ref_lab) and s.labels.dtype == np.uint8
    assert s.instances.dtype == np.int32
    assert set(np.unique(s.instances)) == {1, 7, 23, 24000, 26000, 26001}
    # boxes of the numbered instances, pixel-edge coordinates at the output size
    assert s.box_labels.tolist() == [24, 26, 26]
    assert s.boxes.tolist()[1] == [2.0, 8.0, 10.0, 12.0]
    assert s.boxes.tolist()[2] == [10.0, 8.0, 18.0, 12.0]
    # train ids for mIoU
    assert set(np.unique(to_train_ids(s.labels))) == {0, 10, 11, 13, 255}
    assert ds.describe()["split"] == "val" and ds.describe()["num_samples"] == 3


def test_cityscapes_papers_resolution_from_full_size(tmp_path):
    make_cityscapes(tmp_path, h=1024, w=2048)
    ds = registry.datasets.create("cityscapes", root=str(tmp_path))
    s = ds[0]
    assert s.image.shape == (256, 512, 3) and s.labels.shape == (256, 512) and s.instances.shape == (256, 512)
    with Image.open(next((tmp_path / "leftImg8bit").rglob("*.png"))) as im, \
            Image.open(next((tmp_path / "gtFine").rglob("*_labelIds.png"))) as lab:
        ref_img, ref_lab = official_resize(im.convert("RGB"), lab.convert("L"), 256, keep_aspect=True)
    assert np.array_equal(s.image, ref_img) and np.array_equal(s.labels, ref_lab)


def test_cityscapes_payload_has_36_channels(tmp_path):
    from semcom_bench.semantics import encode_semantics, semantic_maps

    make_cityscapes(tmp_path)
    ds = registry.datasets.create("cityscapes", root=str(tmp_path), height=32, width=64)
    s = ds[0]
    assert semantic_maps(s.labels, ds.num_classes, s.instances).shape == (36, 32, 64)
    p = encode_semantics(s, ds.num_classes)
    assert p.side.present == (1, 7, 23, 24, 26) and p.side.edges


def test_cityscapes_bad_paths_name_the_layout(tmp_path):
    with pytest.raises(UserError, match="leftImg8bit/<split>/<city>"):
        registry.datasets.create("cityscapes", root=str(tmp_path / "nope"))
    (tmp_path / "leftImg8bit" / "val").mkdir(parents=True)
    with pytest.raises(UserError, match="no Cityscapes images.*gtFine_labelIds"):
        registry.datasets.create("cityscapes", root=str(tmp_path))
    make_cityscapes(tmp_path)
    next((tmp_path / "gtFine").rglob("*_labelIds.png")).unlink()
    with pytest.raises(UserError, match="missing .*_gtFine_labelIds.png"):
        registry.datasets.create("cityscapes", root=str(tmp_path))
    with pytest.raises(UserError, match="needs root"):
        registry.datasets.create("cityscapes")


# ------------------------------------------------------------------------------ COCO-Stuff


def make_coco(root: Path, split: str = "val2017", with_inst: bool = False) -> dict:
    out = {}
    for i, (h, w) in enumerate([(48, 64), (64, 48)]):
        stem = f"{i + 139:012d}"
        (root / split).mkdir(parents=True, exist_ok=True)
        lab_dir = root / "stuffthingmaps_trainval2017" / split
        lab_dir.mkdir(parents=True, exist_ok=True)
        image = _rgb(h, w, i)
        Image.fromarray(image).save(root / split / f"{stem}.jpg", quality=95)
        labels = np.full((h, w), 156, np.uint8)  # sky-other
        labels[h // 2 :] = 148  # road
        labels[10:20, 10:30] = 0  # person
        labels[: h // 8, : w // 8] = 255  # unlabelled
        Image.fromarray(labels, mode="L").save(lab_dir / f"{stem}.png")
        if with_inst:
            (root / "val_inst").mkdir(exist_ok=True)
            inst = np.zeros((h, w), np.uint8)
            inst[10:20, 10:30] = 7
            Image.fromarray(inst).save(root / "val_inst" / f"{stem}.png")
        out[stem] = (image, labels)
    return out


def test_coco_stuff_stretch_and_label_shift(tmp_path):
    raw = make_coco(tmp_path)
    ds = registry.datasets.create("coco-stuff", root=str(tmp_path), size=32)
    assert len(ds) == 2 and ds.num_classes == 183 and ds.ignore_index == 182
    assert ds.class_names[0] == "person" and ds.class_names[181] == "wood" and ds.class_names[182] == "unlabeled"
    s = ds[0]
    stem = "000000000139"
    assert s.key == f"val2017/{stem}"
    with Image.open(tmp_path / "val2017" / f"{stem}.jpg") as im:
        ref_img, ref_lab = official_resize(im.convert("RGB"), Image.fromarray(raw[stem][1]), 32, keep_aspect=False)
    assert np.array_equal(s.image, ref_img)
    ref_lab = ref_lab.copy()
    ref_lab[ref_lab == 255] = 182
    assert np.array_equal(s.labels, ref_lab)
    assert set(np.unique(s.labels)) == {0, 148, 156, 182}
    assert s.instances is None
    assert ds.describe()["size"] == 32 and ds.describe()["num_samples"] == 2


def test_a_file_data_set_runs_through_the_runner(tmp_path):
    from semcom_bench import api
    from semcom_bench.config import build_config

    make_coco(tmp_path / "coco")
    config = build_config(dataset={"name": "coco-stuff", "params": {"root": str(tmp_path / "coco"), "size": 32}},
                          methods="full-image", values="10", metrics="psnr,bits",
                          out=tmp_path / "out", cache_dir=tmp_path / "cache")
    frame = api.run(config)["frame"]
    assert frame["sample"].nunique() == 2 and set(frame.metric) == {"psnr", "bits"}


def test_coco_stuff_center_crop_and_instances(tmp_path):
    make_coco(tmp_path, with_inst=True)
    ds = registry.datasets.create("coco-stuff", root=str(tmp_path), size=32, resize="center-crop", instances="val_inst")
    for s in ds:
        assert s.image.shape == (32, 32, 3) and s.labels.shape == (32, 32) and s.instances.shape == (32, 32)
    # landscape 64x48 -> 43x32 -> centre crop columns 5..37
    s = ds[0]
    assert 7 in np.unique(s.instances)
    with pytest.raises(UserError, match="parameter resize .* one of stretch, center-crop; got 'pad'"):
        registry.datasets.create("coco-stuff", root=str(tmp_path), resize="pad")


def test_coco_stuff_bad_layout(tmp_path):
    (tmp_path / "val2017").mkdir()
    Image.fromarray(_rgb(8, 8, 0)).save(tmp_path / "val2017" / "1.jpg")
    with pytest.raises(UserError, match="stuffthingmaps_trainval2017/<split>/<same stem>.png"):
        registry.datasets.create("coco-stuff", root=str(tmp_path))
    with pytest.raises(UserError, match=r"<root>/<split>/\*.jpg"):
        registry.datasets.create("coco-stuff", root=str(tmp_path), split="train2017")


# ------------------------------------------------------------------------------ ADE20K


def test_ade20k_shift_and_other(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    (root / "images" / "validation").mkdir(parents=True)
    (root / "annotations" / "validation").mkdir(parents=True)
    labels = np.zeros((40, 60), np.uint8)  # 0 = other
    labels[10:, :] = 1  # wall -> 0
    labels[30:, :] = 150  # flag -> 149
    Image.fromarray(_rgb(40, 60, 3)).save(root / "images" / "validation" / "ADE_val_00000001.jpg")
    Image.fromarray(labels).save(root / "annotations" / "validation" / "ADE_val_00000001.png")
    ds = registry.datasets.create("ade20k", root=str(root), size=20)
    s = ds[0]
    assert ds.num_classes == 151 and ds.ignore_index == 150 and ds.class_names[0] == "wall"
    assert ds.class_names[149] == "flag"
    assert s.image.shape == (20, 20, 3)
    assert set(np.unique(s.labels)) == {0, 149, 150}
    assert s.labels[0, 0] == 150 and s.labels[-1, 0] == 149
    with pytest.raises(UserError, match="annotations/<split>"):
        registry.datasets.create("ade20k", root=str(tmp_path))


# ------------------------------------------------------------------------------ LSUN


def test_lsun_exported_webp_folder(tmp_path):
    folder = tmp_path / "church_outdoor_val" / "a" / "b"
    folder.mkdir(parents=True)
    Image.fromarray(_rgb(30, 40, 0)).save(folder / "0001.webp", lossless=True)
    Image.fromarray(_rgb(50, 40, 1)).save(folder / "0002.jpg")
    ds = registry.datasets.create("lsun", root=str(tmp_path), size=16)
    assert len(ds) == 2 and ds.num_classes == 0
    s = ds[0]
    assert s.key == "church_outdoor/a/b/0001"
    assert s.image.shape == (16, 16, 3) and s.labels is None and s.instances is None
    assert ds.describe()["num_samples"] == 2
    # centre crop then LANCZOS
    ref = Image.fromarray(_rgb(30, 40, 0)).crop((5, 0, 35, 30)).resize((16, 16), Image.LANCZOS)
    assert np.array_equal(s.image, np.asarray(ref))
    # the plain <root>/<category>/ layout too
    (tmp_path / "bedroom").mkdir()
    Image.fromarray(_rgb(20, 20, 2)).save(tmp_path / "bedroom" / "x.png")
    assert len(registry.datasets.create("lsun", root=str(tmp_path), category="bedroom", size=16)) == 1
    with pytest.raises(UserError, match="<category>_<split>"):
        registry.datasets.create("lsun", root=str(tmp_path), category="tower")


# ------------------------------------------------------------------------------ folder


def test_generic_folder_with_palette_labels_and_resize(tmp_path):
    (tmp_path / "images" / "sub").mkdir(parents=True)
    (tmp_path / "labels" / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(_rgb(24, 32, i)).save(tmp_path / "images" / "sub" / f"img{i}.jpg")
        lab = np.zeros((24, 32), np.uint8)
        lab[:, 16:] = 2
        lab[0, 0] = 255
        p = Image.fromarray(lab, mode="L").convert("P")
        p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [9, 9, 9] * 253)
        p.save(tmp_path / "labels" / "sub" / f"img{i}.png")
    spec = parse_spec(f"folder(root={tmp_path},num_classes=3,class_names=bg|a|b)")
    ds = registry.datasets.create(spec.name, **spec.params)
    assert len(ds) == 3 and ds.class_names == ["bg", "a", "b"]
    s = ds[1]
    assert s.key == "sub/img1" and s.image.shape == (24, 32, 3)
    assert set(np.unique(s.labels)) == {0, 2, 255}  # palette indices, not grey levels
    small = registry.datasets.create("folder", root=str(tmp_path), num_classes=3, height=12, width=16)[0]
    assert small.image.shape == (12, 16, 3) and small.labels.shape == (12, 16)
    only = registry.datasets.create("folder", root=str(tmp_path), labels="none")
    assert only[0].labels is None
    with pytest.raises(UserError, match="num_classes"):
        registry.datasets.create("folder", root=str(tmp_path))
    with pytest.raises(UserError, match=r"<root>/pics/\*.jpg"):
        registry.datasets.create("folder", root=str(tmp_path), images="pics", num_classes=3)
    (tmp_path / "labels" / "sub" / "img2.png").unlink()
    with pytest.raises(UserError, match="missing label map"):
        registry.datasets.create("folder", root=str(tmp_path), num_classes=3)


def test_folder_with_corrupt_files_names_the_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for i in range(3):
        Image.fromarray(_rgb(8, 8, i)).save(tmp_path / "images" / f"img{i}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "labels" / f"img{i}.png")
    (tmp_path / "images" / "img1.png").write_bytes(b"not a png at all")
    good = (tmp_path / "images" / "img0.png").read_bytes()
    (tmp_path / "images" / "img2.png").write_bytes(good[: len(good) // 2])  # truncated
    ds = registry.datasets.create("folder", root=str(tmp_path), num_classes=2)
    assert ds[0].image.shape == (8, 8, 3)
    for i, reason in ((1, "not an image file PIL can read"), (2, "truncated")):
        with pytest.raises(UserError) as info:
            ds[i]
        message = str(info.value)
        assert f"cannot read image {tmp_path / 'images' / f'img{i}.png'} (" in message and reason in message
        assert message.endswith("replace the file or remove it from the data set") and "\n" not in message
    (tmp_path / "labels" / "img0.png").write_bytes(b"")
    with pytest.raises(UserError, match=f"cannot read label map {tmp_path / 'labels' / 'img0.png'}"):
        ds[0]


def test_every_loader_is_registered_with_metadata():
    names = registry.datasets.names()
    for n in ("cityscapes", "coco-stuff", "ade20k", "lsun", "folder"):
        assert n in names
        entry = registry.datasets.get(n)
        assert entry.meta["layout"] and "resolution" in entry.meta


BAD_PARAMETERS = [
    ("synthetic-streets(split=dev)", r"parameter split of dataset 'synthetic-streets' must be one of train, val, test"),
    ("synthetic-streets(size=0)", r"parameter size of dataset 'synthetic-streets' must be in \[1, "),
    ("cityscapes(height=abc)", r"parameter height of dataset 'cityscapes' must be an integer, got 'abc'"),
    ("cityscapes(split=dev)", r"parameter split of dataset 'cityscapes' must be one of train, val, test"),
    ("cityscapes(instances=maybe)", r"parameter instances of dataset 'cityscapes' must be true or false"),
    ("coco-stuff(split=val)", r"parameter split of dataset 'coco-stuff' must be one of val2017, train2017"),
    ("ade20k(resize=pad)", r"parameter resize of dataset 'ade20k' must be one of stretch, center-crop"),
    ("ade20k(size=-1)", r"parameter size of dataset 'ade20k' must be in \[1, "),
    ("lsun(resample=nearest)", r"parameter resample of dataset 'lsun' must be one of lanczos, bicubic"),
    ("folder(num_classes=0)", r"parameter num_classes of dataset 'folder' must be in \[1, "),
    ("folder(height=1.5)", r"parameter height of dataset 'folder' must be an integer or none, got 1.5"),
    ("cityscapes(heigth=64)", r"dataset 'cityscapes' has no parameter heigth; its parameters: root, split, height"),
]


def test_data_set_parameters_are_declared_and_checked(tmp_path):
    # every data set declares its parameters in its factory's signature...
    for entry in registry.datasets.entries():
        if entry.name == "test-fake":  # a bare test class, not a factory with declared parameters
            continue
        params = entry.parameters()
        assert params, entry.name
        assert all(p.doc.text and "\n" not in p.doc.text for p in params), entry.name
    # ...and a bad value is a one-line error naming the parameter and what it accepts, before
    # any file is looked at (the root exists here)
    for text, match in BAD_PARAMETERS:
        spec = parse_spec(text)
        params = spec.params if spec.name == "synthetic-streets" else {"root": str(tmp_path), **spec.params}
        with pytest.raises(UserError, match=match) as err:
            registry.datasets.create(spec.name, **params)
        assert "\n" not in str(err.value), text
