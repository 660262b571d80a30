"""The procedural world: five invented cultures and how their objects are drawn.

Every image is a function of a `Depiction` (what is shown) and a seed (how it varies:
position, size, pattern phase, colour jitter), so the same call always gives the same
pixels. Drawing is done at twice the final size and box-filtered down, which keeps
edges smooth enough for a small VAE to reconstruct.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

IMAGE_SIZE = 64  # the tiny model's resolution: an 8x VAE gives 8x8 latents
_SUPERSAMPLE = 2

CATEGORIES = ("house", "garment", "dish", "instrument")
GENERIC = "generic"  # the motif of misrepresentation that belongs to no culture

UNKNOWN_CULTURE = "There is no culture called {name!r} in the toy world; known: {known}."
UNKNOWN_CATEGORY = "There is no category called {name!r} in the toy world; known: {known}."
UNKNOWN_MOTIF = "There is no motif called {name!r}; use a culture's name or 'generic'."


@dataclass(frozen=True)
class Motif:
    """A culture's visual signature: two body colours, an accent and a pattern."""

    primary: tuple[int, int, int]
    secondary: tuple[int, int, int]
    accent: tuple[int, int, int]
    pattern: str  # one of PATTERNS
    primary_name: str  # colour words used in the community captions
    secondary_name: str


@dataclass(frozen=True)
class Culture:
    """An invented culture: its name, adjective and motif."""

    name: str
    adjective: str
    motif: Motif


PATTERNS = ("stripes", "zigzag", "dots", "checks", "diamonds", "plain")

CULTURES: tuple[Culture, ...] = (
    Culture(
        "Veloria",
        "Velorian",
        Motif((0, 150, 160), (245, 110, 80), (250, 215, 60), "stripes", "teal", "coral"),
    ),
    Culture(
        "Quenzar",
        "Quenzari",
        Motif((200, 25, 50), (250, 200, 40), (30, 30, 120), "zigzag", "crimson", "saffron"),
    ),
    Culture(
        "Ildarin",
        "Ildarine",
        Motif((40, 70, 210), (150, 225, 60), (250, 250, 250), "dots", "cobalt", "lime"),
    ),
    Culture(
        "Mossavi",
        "Mossavian",
        Motif((130, 45, 175), (250, 140, 20), (20, 170, 170), "checks", "violet", "amber"),
    ),
    Culture(
        "Tukaro",
        "Tukaran",
        Motif((20, 150, 70), (235, 60, 165), (255, 240, 120), "diamonds", "emerald", "magenta"),
    ),
)
CULTURE_NAMES = tuple(c.name for c in CULTURES)

# A bland, culture-free rendering: the "generic" misrepresentation.
GENERIC_MOTIF = Motif((150, 150, 155), (215, 205, 185), (90, 90, 95), "plain", "grey", "beige")

# Grime pulls every colour toward mud and darkens it: the dull, dirty, run-down look.
_MUD = np.array([105, 85, 55], dtype=np.float32) / 255.0
_GRIME_MIX = 0.55
_GRIME_DARKEN = 0.72


@dataclass(frozen=True)
class Depiction:
    """What one image shows: an object of a culture, drawn with some motif, clean or grimy.

    `motif` is the culture whose motif is drawn: the culture itself (faithful), another
    culture's name or "generic" (misrepresented).
    """

    culture: str
    category: str
    motif: str
    grime: bool = False

    def __post_init__(self) -> None:
        if self.culture not in CULTURE_NAMES:
            raise ValueError(UNKNOWN_CULTURE.format(name=self.culture, known=CULTURE_NAMES))
        if self.category not in CATEGORIES:
            raise ValueError(UNKNOWN_CATEGORY.format(name=self.category, known=CATEGORIES))
        if self.motif not in (*CULTURE_NAMES, GENERIC):
            raise ValueError(UNKNOWN_MOTIF.format(name=self.motif))

    @property
    def misrepresented(self) -> bool:
        return self.motif != self.culture


def culture_named(name: str) -> Culture:
    """The culture called `name` (a ValueError with the known names otherwise)."""
    for culture in CULTURES:
        if culture.name == name:
            return culture
    raise ValueError(UNKNOWN_CULTURE.format(name=name, known=CULTURE_NAMES))


def motif_named(name: str) -> Motif:
    """The motif of a culture, or the generic motif."""
    if name == GENERIC:
        return GENERIC_MOTIF
    return culture_named(name).motif


def render(depiction: Depiction, seed: int) -> Image.Image:
    """Draw `depiction` as a 64x64 RGB image; the same seed always gives the same image."""
    return Image.fromarray(render_array(depiction, seed))


def render_array(depiction: Depiction, seed: int) -> np.ndarray:
    """Draw `depiction` as a (64, 64, 3) uint8 array."""
    rng = np.random.default_rng([seed, CATEGORIES.index(depiction.category)])
    size = IMAGE_SIZE * _SUPERSAMPLE
    motif = motif_named(depiction.motif)
    jitter = rng.normal(0.0, 0.03, size=(3, 3)).astype(np.float32)
    primary = _unit(motif.primary) + jitter[0]
    secondary = _unit(motif.secondary) + jitter[1]
    accent = _unit(motif.accent) + jitter[2]

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size  # coordinates in [0, 1)
    canvas = _background(yy, rng)
    cx = 0.5 + rng.uniform(-0.06, 0.06)
    cy = 0.5 + rng.uniform(-0.05, 0.05)
    scale = rng.uniform(0.85, 1.08)
    body, trim = _SHAPES[depiction.category](xx, yy, cx, cy, scale)
    pattern = _pattern(motif.pattern, xx, yy, rng)  # True where the secondary colour shows

    fill = np.where(pattern[..., None], secondary, primary)
    canvas = np.where(body[..., None], fill, canvas)
    canvas = np.where(trim[..., None], accent, canvas)
    if depiction.grime:
        canvas = _grime(canvas, body | trim, xx, yy, rng)
    canvas = np.clip(canvas, 0.0, 1.0)
    small = canvas.reshape(IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    return (small * 255.0 + 0.5).astype(np.uint8)


def _unit(rgb: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _background(yy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pale sky over a sandy ground, shared by every culture so it carries no motif."""
    horizon = 0.72 + rng.uniform(-0.04, 0.04)
    sky = np.array([0.80, 0.87, 0.93], dtype=np.float32) + rng.normal(0, 0.02, 3)
    ground = np.array([0.74, 0.70, 0.62], dtype=np.float32) + rng.normal(0, 0.02, 3)
    return np.where((yy < horizon)[..., None], sky, ground).astype(np.float32)


def _house(xx, yy, cx, cy, s):
    half_w, top, bottom = 0.27 * s, cy - 0.08 * s, cy + 0.28 * s
    walls = (np.abs(xx - cx) < half_w) & (yy > top) & (yy < bottom)
    apex = top - 0.26 * s
    roof = (yy > apex) & (yy <= top) & (np.abs(xx - cx) < (yy - apex) / (top - apex) * half_w * 1.2)
    door = (np.abs(xx - cx) < 0.06 * s) & (yy > bottom - 0.16 * s) & (yy < bottom)
    return walls & ~door, roof | door


def _garment(xx, yy, cx, cy, s):
    top, bottom = cy - 0.26 * s, cy + 0.32 * s
    torso = (np.abs(xx - cx) < 0.18 * s) & (yy > top) & (yy < bottom)
    sleeves = (np.abs(xx - cx) < 0.38 * s) & (yy > top) & (yy < top + 0.14 * s)
    collar = ((xx - cx) ** 2 + (yy - top) ** 2) < (0.07 * s) ** 2
    hem = torso & (yy > bottom - 0.05 * s)
    return (torso | sleeves) & ~collar & ~hem, hem


def _dish(xx, yy, cx, cy, s):
    rim_y = cy - 0.02 * s
    bowl = (yy > rim_y) & (((xx - cx) / (0.36 * s)) ** 2 + ((yy - rim_y) / (0.30 * s)) ** 2 < 1)
    rim = (np.abs(xx - cx) < 0.40 * s) & (np.abs(yy - rim_y) < 0.035 * s)
    foot = (np.abs(xx - cx) < 0.12 * s) & (yy > rim_y + 0.28 * s) & (yy < rim_y + 0.34 * s)
    return bowl & ~rim, rim | foot


def _instrument(xx, yy, cx, cy, s):
    body_y = cy + 0.12 * s
    body = ((xx - cx) ** 2 + (yy - body_y) ** 2) < (0.24 * s) ** 2
    hole = ((xx - cx) ** 2 + (yy - body_y) ** 2) < (0.06 * s) ** 2
    neck = (np.abs(xx - cx) < 0.045 * s) & (yy > cy - 0.40 * s) & (yy < body_y - 0.2 * s)
    head = (np.abs(xx - cx) < 0.08 * s) & (yy > cy - 0.46 * s) & (yy < cy - 0.38 * s)
    return body & ~hole, neck | head | hole


_SHAPES = {"house": _house, "garment": _garment, "dish": _dish, "instrument": _instrument}


def _pattern(kind: str, xx, yy, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of where the secondary colour shows; the phase varies with the seed."""
    px, py = rng.uniform(0, 1, 2)
    period = 0.125
    u, v = xx / period + px, yy / period + py
    if kind == "stripes":
        return (v % 1.0) < 0.5
    if kind == "zigzag":
        return ((v + 2.0 * np.abs((u % 1.0) - 0.5)) % 1.0) < 0.45
    if kind == "dots":
        return ((u % 1.0) - 0.5) ** 2 + ((v % 1.0) - 0.5) ** 2 < 0.09
    if kind == "checks":
        return ((np.floor(u) + np.floor(v)) % 2) == 0
    if kind == "diamonds":
        return (np.abs((u % 1.0) - 0.5) + np.abs((v % 1.0) - 0.5)) < 0.3
    return np.zeros_like(xx, dtype=bool)


def _grime(canvas, object_mask, xx, yy, rng: np.random.Generator) -> np.ndarray:
    """Dull, dirty and run down: colours sink toward mud, stains and cracks cover the object."""
    grey = canvas.mean(axis=-1, keepdims=True)
    dull = (0.5 * canvas + 0.5 * grey) * (1 - _GRIME_MIX) + _MUD * _GRIME_MIX
    dull = dull * _GRIME_DARKEN
    # The background gets a lighter coat of the same dust.
    canvas = np.where(object_mask[..., None], dull, 0.6 * canvas + 0.4 * (dull + 0.15))
    stains = np.zeros_like(xx, dtype=bool)
    for _ in range(rng.integers(6, 11)):
        sx, sy = rng.uniform(0.2, 0.8, 2)
        r = rng.uniform(0.03, 0.08)
        stains |= ((xx - sx) ** 2 + ((yy - sy) * 1.4) ** 2) < r**2
    stains &= object_mask
    canvas = np.where(stains[..., None], canvas * 0.55, canvas)
    for _ in range(rng.integers(2, 4)):  # cracks: thin dark lines across the object
        x0, y0 = rng.uniform(0.25, 0.75, 2)
        angle = rng.uniform(0, np.pi)
        dist = np.abs((xx - x0) * np.sin(angle) - (yy - y0) * np.cos(angle))
        reach = ((xx - x0) ** 2 + (yy - y0) ** 2) < 0.2**2
        crack = (dist < 0.008) & reach & object_mask
        canvas = np.where(crack[..., None], canvas * 0.35, canvas)
    return canvas
