"""A small community data set written inside a test: coloured images and captions."""

import json
from pathlib import Path

from PIL import Image, ImageDraw

CAPTIONS = [
    ("a Yoruba gele headwrap at a wedding in Lagos", "a woman wearing a headscarf"),
    ("a bowl of jollof rice with fried plantain", "a plate of rice"),
    ("the Olumo rock in Abeokuta at dusk", "a large rock at sunset"),
    ("a talking drum player at a festival", "a man playing a drum"),
    ("an adire indigo dyed cloth on a line", "blue cloth hanging"),
]


def picture(index: int, *, size: int = 48, shift: int = 0) -> Image.Image:
    """A distinct, deterministic picture: a coloured field with a shape in it."""
    base = ((index * 53 + shift) % 256, (index * 97 + 40) % 256, (index * 31 + 90) % 256)
    image = Image.new("RGB", (size + 16, size), base)
    draw = ImageDraw.Draw(image)
    draw.ellipse((8 + index * 3, 6, 30 + index * 3, 30), fill=(255 - base[0], 200, 30))
    return image


def make_data_set(
    folder: Path, *, count: int = 4, negatives: int = 2, generic: bool = True
) -> Path:
    """Write `count` examples (with `negatives` negatives each) and metadata.jsonl."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "negatives").mkdir(exist_ok=True)
    rows = []
    for i in range(count):
        text, blip = CAPTIONS[i % len(CAPTIONS)]
        picture(i).save(folder / "images" / f"{i}.png")
        names = []
        for k in range(negatives):
            name = f"negatives/{i}_{k}.png"
            picture(i, shift=90 + 40 * k).convert("L").convert("RGB").save(folder / name)
            names.append(name)
        row = {"file_name": f"images/{i}.png", "text": text, "negative_imgpath": names}
        if generic:
            row["blip_text"] = blip
        rows.append(row)
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder
