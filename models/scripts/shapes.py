"""shapes.py — the synthetic world of the embedded demo model: images of coloured shapes,
questions about them, truthful answers and hallucinated ones (a shape or colour that is not
there, or a wrong count). Deterministic for a given seed.
"""
import math
import random

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
           "yellow": (235, 210, 30), "purple": (140, 60, 190), "orange": (245, 140, 20)}
NUMBERS = ["zero", "one", "two", "three", "four"]
SIZE = 224  # drawn size; the model resizes to its image_size (Pillow bicubic, as the pipeline does)


def _star(cx, cy, r):
    pts = []
    for k in range(10):
        a = -math.pi / 2 + k * math.pi / 5
        rr = r if k % 2 == 0 else r * 0.45
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def draw(objects, background, rng):
    """objects: [(shape, colour, cx, cy, r)]; background: 'plain' or 'noisy'."""
    if background == "noisy":  # grey noise in 170..229, seeded from rng (deterministic)
        noise = np.random.default_rng(rng.randrange(1 << 32)).integers(170, 230, (SIZE, SIZE), dtype=np.uint8)
        img = Image.fromarray(noise, "L").convert("RGB")
    else:
        img = Image.new("RGB", (SIZE, SIZE), (245, 245, 245))
    d = ImageDraw.Draw(img)
    for shape, colour, cx, cy, r in objects:
        c = COLOURS[colour]
        if shape == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c)
        elif shape == "square":
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=c)
        elif shape == "triangle":
            d.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=c)
        else:
            d.polygon(_star(cx, cy, r * 1.2), fill=c)
    return img


def sample_scene(rng):
    """1-3 objects with distinct shapes, each in its own cell of a 4 x 4 layout (56 px cells of the
    224 px drawing = 2 x 2 ViT patches at the model's 112 px), radius 17-24, centre jittered by up
    to 2 px. Free positions (earlier versions) left the tiny from-scratch ViT near chance on shapes
    after an hour of CPU training; the cell layout keeps shape edges at the same place within a
    patch, so it learns them in minutes."""
    n = rng.choice([1, 1, 2, 2, 3])
    objs = []
    for s, cell in zip(rng.sample(SHAPES, n), rng.sample(range(16), n)):
        r = rng.randrange(17, 25)
        cx = 28 + 56 * (cell % 4) + rng.randrange(-2, 3)
        cy = 28 + 56 * (cell // 4) + rng.randrange(-2, 3)
        objs.append((s, rng.choice(list(COLOURS)), cx, cy, r))
    return objs, rng.choice(["plain", "noisy"])


def _list(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(objs):
    parts = [f"{'an' if c[0] in 'aeiou' else 'a'} {c} {s}" for s, c, *_ in objs]
    return f"The image shows {_list(parts)}."


def qa(objs, rng):
    """(prompt, truthful, [hallucinated x3]) for one scene."""
    present = {s: c for s, c, *_ in objs}
    kind = rng.choice(["describe", "shapes", "colour", "count"])
    absent_shapes = [s for s in SHAPES if s not in present]
    if kind == "colour":
        s = rng.choice(list(present))
        prompt = f"What colour is the {s}?"
        truth = f"The {s} is {present[s]}."
        wrong = [f"The {s} is {c}." for c in rng.sample([c for c in COLOURS if c != present[s]], 3)]
        return prompt, truth, wrong
    if kind == "count":
        n = len(objs)
        prompt = "How many shapes are there?"
        truth = f"There {'is' if n == 1 else 'are'} {NUMBERS[n]} shape{'s' if n > 1 else ''}."
        others = rng.sample([k for k in range(1, 5) if k != n], 3)
        wrong = [f"There {'is' if k == 1 else 'are'} {NUMBERS[k]} shape{'s' if k > 1 else ''}." for k in others]
        return prompt, truth, wrong
    prompt = "Describe the image." if kind == "describe" else "What shapes do you see?"
    truth = describe(objs)
    wrong = set()
    while len(wrong) < 3:
        o = [list(x) for x in objs]
        i = rng.randrange(len(o))
        mode = rng.choice(["colour", "shape", "extra"] if absent_shapes else ["colour"])
        if mode == "colour":
            o[i][1] = rng.choice([c for c in COLOURS if c != o[i][1]])
        elif mode == "shape":
            o[i][0] = rng.choice(absent_shapes)
        else:
            o.append([rng.choice(absent_shapes), rng.choice(list(COLOURS)), 0, 0, 0])
        w = describe([tuple(x) for x in o])
        if w != truth:
            wrong.add(w)
    return prompt, truth, sorted(wrong)


def make_items(n, seed):
    """n items: dicts with the PIL image, prompt, truthful answer, 3 hallucinated answers."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        objs, bg = sample_scene(rng)
        img = draw(objs, bg, rng)
        prompt, truth, wrong = qa(objs, rng)
        items.append({"image": img, "objects": objs, "prompt": prompt, "truthful": truth, "hallucinated": wrong})
    return items
