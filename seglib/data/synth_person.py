"""One person of the synthetic dataset, painted part by part on the picture and on the labels.

``draw_person`` paints a person facing the camera with a ``Painter``, which
draws every part on the RGB image and on a two-channel label canvas (class id,
person id) with the same geometry, so the mask matches the picture to the
pixel. The person's *left* arm, leg and shoe are on the image's *right*.
Clothing colours are drawn independently of the class (``random_color``).
"""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from seglib.classes import NUM_CLASSES

# Class ids, named once here for readability of the drawing code.
(BACKGROUND, HAT, HAIR, GLOVE, SUNGLASSES, UPPER_CLOTHES, DRESS, COAT, SOCKS, PANTS, TORSO_SKIN,
 SCARF, SKIRT, FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE) = range(NUM_CLASSES)

#: The generator's settings that decide the class balance (each a probability per person,
#: drawn independently): what covers the torso, then (without a dress) the legs, the sleeves, and the
#: accessories. ``seglib.data.synthetic`` writes the dashboard's description of the data from these.
TOP_GARMENTS = {"upper": 0.62, "coat": 0.2, "dress": 0.18}
LOWER_GARMENTS = {"pants": 0.6, "shorts": 0.18, "skirt": 0.22}
SLEEVES = {"none": 0.2, "short": 0.4, "long": 0.4}
ACCESSORIES = {"hat": 0.22, "sunglasses": 0.2, "gloves": 0.15, "socks": 0.45, "scarf": 0.18,
               "long_hair": 0.35, "bald": 0.05}
#: The one class each garment is labelled with (its sleeves too): a coat is always Coat.
GARMENT_CLASSES = {"upper": UPPER_CLOTHES, "coat": COAT, "dress": DRESS}
#: Everyone faces the camera: the side of the image (-1 = left, +1 = right) decides left and right.
SIDE_CLASSES = {-1: {"arm": RIGHT_ARM, "leg": RIGHT_LEG, "shoe": RIGHT_SHOE},
                1: {"arm": LEFT_ARM, "leg": LEFT_LEG, "shoe": LEFT_SHOE}}

_SHIFT = 4                 # OpenCV sub-pixel bits: coordinates are drawn in 1/16 px
_ONE = 1 << _SHIFT

_SKIN_TONES = np.array([
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96), (161, 102, 70),
    (125, 80, 52), (92, 58, 38), (233, 190, 170),
], dtype=np.float32)
_HAIR_COLORS = np.array([
    (20, 16, 14), (60, 40, 28), (100, 70, 40), (150, 110, 60), (200, 170, 110),
    (120, 40, 20), (170, 170, 170), (235, 230, 220),
], dtype=np.float32)


# ---------------------------------------------------------------------------
# drawing primitives: every part is painted on the picture and on the label
# canvas (two channels: class id, person id) with the same geometry
# ---------------------------------------------------------------------------

class Painter:
    """Draws parts of one scene on the RGB image and the (class, person) canvas."""

    def __init__(self, image: np.ndarray, labels: np.ndarray):
        self.image = image
        self.labels = labels
        self.person = 0

    @staticmethod
    def _points(points) -> np.ndarray:
        return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32)

    def polygon(self, points, label: int, color) -> None:
        pts = [self._points(points)]
        cv2.fillPoly(self.image, pts, _bgr(color), cv2.LINE_8, _SHIFT)
        cv2.fillPoly(self.labels, pts, (label, self.person), cv2.LINE_8, _SHIFT)

    def ellipse(self, center, axes, label: int, color, angle: float = 0.0,
                start: float = 0.0, end: float = 360.0) -> None:
        c = (int(round(center[0] * _ONE)), int(round(center[1] * _ONE)))
        a = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
        cv2.ellipse(self.image, c, a, angle, start, end, _bgr(color), -1, cv2.LINE_8, _SHIFT)
        cv2.ellipse(self.labels, c, a, angle, start, end, (label, self.person), -1, cv2.LINE_8, _SHIFT)

    def limb(self, points, thickness: float, label: int, color) -> None:
        """A thick polyline with round joints (arms, legs, sleeves, scarves)."""
        width = max(1, int(round(thickness)))
        pts = self._points(points)
        for p0, p1 in zip(pts[:-1], pts[1:]):
            cv2.line(self.image, tuple(map(int, p0)), tuple(map(int, p1)), _bgr(color), width, cv2.LINE_8, _SHIFT)
            cv2.line(self.labels, tuple(map(int, p0)), tuple(map(int, p1)), (label, self.person), width,
                     cv2.LINE_8, _SHIFT)

    # picture-only strokes (facial features, stripes): no label change
    def stroke(self, p0, p1, color, thickness: float = 1.0) -> None:
        cv2.line(self.image, (int(p0[0] * _ONE), int(p0[1] * _ONE)), (int(p1[0] * _ONE), int(p1[1] * _ONE)),
                 _bgr(color), max(1, int(round(thickness))), cv2.LINE_8, _SHIFT)

    def dot(self, center, radius: float, color) -> None:
        cv2.circle(self.image, (int(center[0] * _ONE), int(center[1] * _ONE)), max(1, int(radius * _ONE)),
                   _bgr(color), -1, cv2.LINE_8, _SHIFT)


def _bgr(color) -> tuple:
    """A colour for OpenCV: the picture buffer is RGB (no channel swap), values as floats."""
    return (float(color[0]), float(color[1]), float(color[2]))


def random_color(rng: np.random.Generator) -> tuple:
    """Any colour at all: hue, saturation and brightness drawn independently of the class."""
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.05, 0.95), rng.uniform(0.12, 0.97)
    return tuple(255.0 * c for c in colorsys.hsv_to_rgb(hue, saturation, value))


# Colours are plain (r, g, b) tuples of floats: numpy calls on 3-element arrays
# cost more than the drawing itself.
def _shade(color, factor: float) -> tuple:
    return tuple(min(255.0, max(0.0, c * factor)) for c in color)


def _jitter(rng: np.random.Generator, color, amount: float = 12.0) -> tuple:
    return tuple(min(255.0, max(0.0, c + d)) for c, d in zip(color, rng.normal(0, amount, 3)))


# ---------------------------------------------------------------------------
# one person
# ---------------------------------------------------------------------------

def draw_person(paint: Painter, rng: np.random.Generator, cx: float, top: float, height: float) -> None:
    """Draw one person facing the camera, ``height`` pixels from crown to soles.

    Coordinates are in units of ``height`` from the top centre; ``s = +1``
    is the image's right, which is the person's LEFT side. The person's looks,
    outfit and pose are drawn from ``rng`` first, then each part is painted from
    the back to the front. The order of ``rng``'s draws decides every pixel of
    the dataset: a step that draws in another order makes another dataset.
    """
    person = _Person(paint, rng, cx, top, height)
    person.long_hair()
    person.legs_and_lower_clothes()
    person.torso()
    person.arms()
    person.scarf()
    person.head()


def _joint(start, angle: float, length: float, side: int) -> tuple[float, float]:
    """The end of a limb of ``length`` from ``start`` at ``angle`` (radians from straight down, positive =
    outwards on ``side``)."""
    return (start[0] + side * math.sin(angle) * length, start[1] + math.cos(angle) * length)


class _Person:
    """One person: looks, outfit and pose (drawn from ``rng`` when it is made), and the steps that paint
    them in ``draw_person``'s order."""

    def __init__(self, paint: Painter, rng: np.random.Generator, cx: float, top: float, height: float):
        self.paint, self.rng = paint, rng
        self.cx, self.top, self.h = cx, top, height
        self._looks()
        self._outfit()
        self._pose()

    def at(self, x: float, y: float) -> tuple[float, float]:
        """Person units -> pixels."""
        return (self.cx + x * self.h, self.top + y * self.h)

    # -- what is drawn from rng before any paint --------------------------------------

    def _looks(self) -> None:
        rng = self.rng
        self.skin = _jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES))], 8)
        self.hair_color = _jitter(rng, _HAIR_COLORS[rng.integers(len(_HAIR_COLORS))], 10)
        self.build = build = rng.uniform(0.85, 1.2)
        self.shoulder_w = 0.105 * build
        self.hip_w = 0.075 * build
        self.head_r = (0.05 * rng.uniform(0.92, 1.08), 0.064 * rng.uniform(0.95, 1.05))
        self.head_c = (rng.normal(0, 0.004), 0.068)
        self.neck_y, self.shoulder_y, self.hip_y = 0.125, 0.165, 0.5

    def _outfit(self) -> None:
        """What covers torso, legs and arms, their colours, and the accessories."""
        rng = self.rng
        self.top_kind = top_kind = rng.choice(list(TOP_GARMENTS), p=list(TOP_GARMENTS.values()))
        self.lower_kind = ("none" if top_kind == "dress" else
                           rng.choice(list(LOWER_GARMENTS), p=list(LOWER_GARMENTS.values())))
        self.sleeve = rng.choice(list(SLEEVES), p=list(SLEEVES.values())) if top_kind != "coat" else "long"
        self.top_label = GARMENT_CLASSES[top_kind]
        self.top_color = random_color(rng)
        self.lower_color = random_color(rng)
        self.shoe_color = random_color(rng) if rng.random() < 0.4 else _jitter(rng, (40.0, 35.0, 30.0), 15)
        self.has_hat = rng.random() < ACCESSORIES["hat"]
        self.has_glasses = rng.random() < ACCESSORIES["sunglasses"]
        self.has_gloves = rng.random() < ACCESSORIES["gloves"]
        self.has_socks = rng.random() < ACCESSORIES["socks"]
        self.has_scarf = rng.random() < ACCESSORIES["scarf"]
        self.has_long_hair = rng.random() < ACCESSORIES["long_hair"]
        self.bald = rng.random() < ACCESSORIES["bald"]

    def _pose(self) -> None:
        """Limb angles (radians from straight down, positive = outwards), the joints, and the limbs' widths
        and labels."""
        rng, h, build = self.rng, self.h, self.build
        arms = {}
        for side in (-1, 1):
            raised = rng.random() < 0.15
            upper = rng.uniform(1.6, 2.6) if raised else abs(rng.normal(0.22, 0.18))
            bend = rng.uniform(-0.6, 0.9) if not raised else rng.uniform(-0.3, 0.4)
            arms[side] = (upper, upper + bend)
        stance = rng.uniform(0.02, 0.22)
        legs = {side: stance + rng.normal(0, 0.04) for side in (-1, 1)}
        self.arm_angles = arms

        self.shoulder = shoulder = {s: (s * (self.shoulder_w - 0.022), self.shoulder_y + 0.018) for s in (-1, 1)}
        self.hip = hip = {s: (s * 0.045 * build, self.hip_y) for s in (-1, 1)}
        self.elbows = elbows = {s: _joint(shoulder[s], arms[s][0], 0.165, s) for s in (-1, 1)}
        self.wrists = {s: _joint(elbows[s], arms[s][1], 0.15, s) for s in (-1, 1)}
        self.knees = knees = {s: _joint(hip[s], legs[s], 0.23, s) for s in (-1, 1)}
        self.ankles = {s: _joint(knees[s], legs[s] * 0.6, 0.22, s) for s in (-1, 1)}

        self.arm_label = {side: classes["arm"] for side, classes in SIDE_CLASSES.items()}  # image-left: the person's right
        self.leg_label = {side: classes["leg"] for side, classes in SIDE_CLASSES.items()}
        self.shoe_label = {side: classes["shoe"] for side, classes in SIDE_CLASSES.items()}
        self.thigh, self.shin = 0.062 * build * h, 0.05 * build * h
        self.upper_arm, self.forearm = 0.046 * build * h, 0.038 * build * h

    # -- the parts, from the back to the front ------------------------------------------

    def long_hair(self) -> None:
        """Long hair hangs behind the shoulders."""
        P, head_r, head_c = self.at, self.head_r, self.head_c
        if self.has_long_hair and not self.bald:
            self.paint.polygon([P(-head_r[0] * 1.15, head_c[1]), P(head_r[0] * 1.15, head_c[1]),
                                P(head_r[0] * 1.35, 0.24), P(-head_r[0] * 1.35, 0.24)], HAIR, self.hair_color)

    def legs_and_lower_clothes(self) -> None:
        """Legs (skin), socks, lower clothes, shoes."""
        paint, rng, P, h = self.paint, self.rng, self.at, self.h
        hip, knees, ankles, shin, thigh = self.hip, self.knees, self.ankles, self.shin, self.thigh
        hip_w, hip_y, lower_kind, lower_color = self.hip_w, self.hip_y, self.lower_kind, self.lower_color
        for s in (-1, 1):
            paint.limb([P(*hip[s]), P(*knees[s]), P(*ankles[s])], shin, self.leg_label[s], _shade(self.skin, 0.93))
            paint.limb([P(*hip[s]), P(*knees[s])], thigh, self.leg_label[s], _shade(self.skin, 0.93))
            if self.has_socks:
                sock_top = (ankles[s][0] - (ankles[s][0] - knees[s][0]) * 0.25,
                            ankles[s][1] - (ankles[s][1] - knees[s][1]) * 0.25)
                paint.limb([P(*sock_top), P(*ankles[s])], shin * 1.05, SOCKS, random_color(rng))
        if lower_kind in ("pants", "shorts"):
            paint.polygon([P(-hip_w, hip_y - 0.03), P(hip_w, hip_y - 0.03), P(hip_w * 1.05, hip_y + 0.07),
                           P(-hip_w * 1.05, hip_y + 0.07)], PANTS, lower_color)
            for s in (-1, 1):
                if lower_kind == "pants":
                    hem = ((ankles[s][0] * 0.88 + knees[s][0] * 0.12), ankles[s][1] * 0.88 + knees[s][1] * 0.12)
                    if not self.has_socks:
                        hem = ankles[s]
                    paint.limb([P(*hip[s]), P(*knees[s]), P(*hem)], shin * 1.25, PANTS, lower_color)
                else:
                    hem = (hip[s][0] * 0.4 + knees[s][0] * 0.6, hip[s][1] * 0.4 + knees[s][1] * 0.6)
                    paint.limb([P(*hip[s]), P(*hem)], thigh * 1.2, PANTS, lower_color)
        elif lower_kind == "skirt":
            length = rng.uniform(0.62, 0.8)
            flare = rng.uniform(1.2, 1.9)
            paint.polygon([P(-hip_w, hip_y - 0.03), P(hip_w, hip_y - 0.03), P(hip_w * flare, length),
                           P(-hip_w * flare, length)], SKIRT, lower_color)
        for s in (-1, 1):
            foot = (ankles[s][0] + s * 0.012, ankles[s][1] + 0.022)
            paint.ellipse(P(*foot), (0.042 * h * self.build, 0.026 * h), self.shoe_label[s], self.shoe_color)

    def torso(self) -> None:
        """Skin first (neck and neckline), then the garment over it, shaded, sometimes striped."""
        paint, rng, P, h = self.paint, self.rng, self.at, self.h
        shoulder_w, hip_w, neck_y, shoulder_y, hip_y = (self.shoulder_w, self.hip_w, self.neck_y, self.shoulder_y,
                                                        self.hip_y)
        top_kind, top_label, top_color = self.top_kind, self.top_label, self.top_color
        neckline = rng.uniform(0.2, 0.26)
        neck_w = rng.uniform(0.025, 0.045)
        # The neck and the chest inside the neckline; the garment drawn next covers
        # the rest, so no sliver of skin is left along its edges.
        paint.polygon([P(-0.024, neck_y - 0.01), P(0.024, neck_y - 0.01), P(0.03, shoulder_y),
                       P(neck_w + 0.01, shoulder_y + 0.005), P(0, neckline + 0.01),
                       P(-neck_w - 0.01, shoulder_y + 0.005), P(-0.03, shoulder_y)], TORSO_SKIN,
                      _shade(self.skin, 0.9))
        bottom = hip_y + 0.02
        if top_kind == "coat":
            bottom = rng.uniform(0.66, 0.82)
        elif top_kind == "dress":
            bottom = rng.uniform(0.68, 0.82)
        flare = 1.0 if top_kind == "upper" else rng.uniform(1.2, 1.7)
        garment = [P(-shoulder_w, shoulder_y + 0.02), P(-shoulder_w * 0.8, shoulder_y), P(-neck_w, shoulder_y),
                   P(0, neckline), P(neck_w, shoulder_y), P(shoulder_w * 0.8, shoulder_y),
                   P(shoulder_w, shoulder_y + 0.02), P(hip_w * 1.05, hip_y), P(hip_w * 1.05 * flare, bottom),
                   P(-hip_w * 1.05 * flare, bottom), P(-hip_w * 1.05, hip_y)]
        paint.polygon(garment, top_label, top_color)
        # shading and texture on the picture only: a darker side, sometimes stripes
        paint.polygon([P(shoulder_w * 0.35, shoulder_y + 0.03), P(shoulder_w, shoulder_y + 0.03),
                       P(hip_w * 1.05, hip_y), P(hip_w * 0.4, hip_y)][:4], top_label, _shade(top_color, 0.82))
        if rng.random() < 0.3 and h > 40:
            stripe = random_color(rng)
            for y in np.arange(neckline + 0.03, hip_y, rng.uniform(0.03, 0.06)):
                t = (y - shoulder_y) / (hip_y - shoulder_y)
                half = shoulder_w * (1 - t) + hip_w * 1.05 * t
                paint.stroke(P(-half * 0.95, y), P(half * 0.95, y), stripe, max(1.0, 0.01 * h))
        if top_kind == "coat":  # the opening line and buttons
            paint.stroke(P(0, neckline), P(0, bottom), _shade(top_color, 0.6), max(1.0, 0.006 * h))

    def arms(self) -> None:
        """Skin, sleeves in the garment's colour and class, hands, gloves."""
        paint, rng, P, h = self.paint, self.rng, self.at, self.h
        shoulder, elbows, wrists, arm_label = self.shoulder, self.elbows, self.wrists, self.arm_label
        upper_arm, forearm, skin, top_color = self.upper_arm, self.forearm, self.skin, self.top_color
        sleeve_label = self.top_label
        for s in (-1, 1):
            paint.limb([P(*shoulder[s]), P(*elbows[s]), P(*wrists[s])], forearm, arm_label[s], skin)
            paint.limb([P(*shoulder[s]), P(*elbows[s])], upper_arm, arm_label[s], skin)
            if self.sleeve == "short":
                mid = ((shoulder[s][0] + elbows[s][0]) / 2, (shoulder[s][1] + elbows[s][1]) / 2)
                paint.limb([P(*shoulder[s]), P(*mid)], upper_arm * 1.25, sleeve_label, top_color)
            elif self.sleeve == "long":
                cuff = (elbows[s][0] * 0.15 + wrists[s][0] * 0.85, elbows[s][1] * 0.15 + wrists[s][1] * 0.85)
                paint.limb([P(*shoulder[s]), P(*elbows[s]), P(*cuff)], forearm * 1.25, sleeve_label,
                           _shade(top_color, 0.92))
                paint.limb([P(*shoulder[s]), P(*elbows[s])], upper_arm * 1.2, sleeve_label, _shade(top_color, 0.92))
            hand = _joint(wrists[s], self.arm_angles[s][1], 0.02, s)
            if self.has_gloves:
                paint.ellipse(P(*hand), (0.024 * h, 0.028 * h), GLOVE, random_color(rng))
            else:
                paint.ellipse(P(*hand), (0.021 * h, 0.025 * h), arm_label[s], skin)

    def scarf(self) -> None:
        """A scarf around the neck, sometimes with a hanging end."""
        paint, rng, P, h, shoulder_y = self.paint, self.rng, self.at, self.h, self.shoulder_y
        if self.has_scarf:
            scarf_color = random_color(rng)
            paint.limb([P(-0.05, shoulder_y - 0.008), P(0.05, shoulder_y - 0.008)], 0.04 * h, SCARF, scarf_color)
            if rng.random() < 0.6:
                side = rng.choice([-1, 1])
                paint.limb([P(side * 0.035, shoulder_y), P(side * 0.045, shoulder_y + 0.13)], 0.035 * h, SCARF,
                           scarf_color)

    def head(self) -> None:
        """Hair (behind and on top), face, hat, sunglasses."""
        paint, rng, P, h = self.paint, self.rng, self.at, self.h
        head_r, head_c, hair_color, bald = self.head_r, self.head_c, self.hair_color, self.bald
        if not bald:
            paint.ellipse(P(head_c[0], head_c[1] - 0.012), (head_r[0] * 1.1 * h, head_r[1] * 1.02 * h), HAIR,
                          hair_color)
        paint.ellipse(P(head_c[0], head_c[1] + 0.006), (head_r[0] * h, head_r[1] * 0.93 * h), FACE, self.skin)
        if not bald and rng.random() < 0.5:  # a fringe over the forehead
            paint.ellipse(P(head_c[0], head_c[1] - 0.03), (head_r[0] * 0.95 * h, head_r[1] * 0.45 * h), HAIR,
                          hair_color, start=180, end=360)
        eye_y = head_c[1] + 0.0
        if h > 45:  # facial features on the picture only
            dark = (30.0, 25.0, 25.0)
            for s in (-1, 1):
                paint.dot(P(head_c[0] + s * 0.019, eye_y), max(0.6, 0.006 * h), dark)
            paint.stroke(P(head_c[0] - 0.014, head_c[1] + 0.04), P(head_c[0] + 0.014, head_c[1] + 0.04),
                         (150.0, 60, 60), max(1.0, 0.004 * h))
        if self.has_hat:
            hat_color = random_color(rng)
            if rng.random() < 0.5:  # beanie
                paint.ellipse(P(head_c[0], head_c[1] - 0.025), (head_r[0] * 1.12 * h, head_r[1] * 0.85 * h), HAT,
                              hat_color, start=180, end=360)
                paint.polygon([P(-head_r[0] * 1.12, head_c[1] - 0.03), P(head_r[0] * 1.12, head_c[1] - 0.03),
                               P(head_r[0] * 1.12, head_c[1] - 0.018), P(-head_r[0] * 1.12, head_c[1] - 0.018)],
                              HAT, _shade(hat_color, 0.85))
            else:  # brimmed hat
                paint.ellipse(P(head_c[0], head_c[1] - 0.03), (head_r[0] * 1.8 * h, 0.012 * h), HAT, hat_color)
                paint.polygon([P(-head_r[0] * 0.95, head_c[1] - 0.03), P(head_r[0] * 0.95, head_c[1] - 0.03),
                               P(head_r[0] * 0.8, head_c[1] - 0.1), P(-head_r[0] * 0.8, head_c[1] - 0.1)], HAT,
                              _shade(hat_color, 0.9))
        if self.has_glasses:
            lens = tuple(c + rng.uniform(0, 40) for c in (20.0, 20.0, 25.0))
            for s in (-1, 1):
                paint.ellipse(P(head_c[0] + s * 0.02, eye_y), (0.016 * h, 0.01 * h), SUNGLASSES, lens)
            paint.limb([P(head_c[0] - 0.006, eye_y), P(head_c[0] + 0.006, eye_y)], max(1.0, 0.004 * h), SUNGLASSES,
                       lens)
