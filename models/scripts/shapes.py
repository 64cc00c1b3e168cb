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
# Seeds of the item streams: training scenes; validation scenes (held out from training, but looked
# at while the DPO recipe was chosen); test scenes (held out, never looked at before the recipe was
# fixed: the seed test_demo_model.py replays through the daemon; the model card and the README
# report it among 8 held-out seeds, finish_demo.py --seeds).
TRAIN_SEED, VALIDATION_SEED, TEST_SEED = 1, 2, 5
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


def _objects(objs):
    return _list([f"{'an' if c[0] in 'aeiou' else 'a'} {c} {s}" for s, c, *_ in objs])


def _count(n, unit="shape"):
    return f"{NUMBERS[n]} {unit}{'s' if n != 1 else ''}"


# Phrasings of one answer. Answerers differ in how they say things, independently of whether what
# they say is true. The training answers (the reference's SFT data and the DPO pairs) come in a
# "house style": phrasing k with probability HOUSE[k]; candidates from other answerers
# (make_items(..., mixed=True)) use any phrasing with equal probability. The likelihood of an answer
# carries the prior of its phrasing; the RLAIF-V log-ratio cancels it, since policy and reference
# share it.
STYLES = {
    "describe": [lambda o: f"The image shows {_objects(o)}.",
                 lambda o: f"I can see {_objects(o)}.",
                 lambda o: f"There {'is' if len(o) == 1 else 'are'} {_objects(o)} in the picture.",
                 lambda o: f"This is a picture of {_objects(o)}."],
    "colour": [lambda s, c: f"The {s} is {c}.",
               lambda s, c: f"It is {c}.",
               lambda s, c: f"The {s} is coloured {c}.",
               lambda s, c: f"I see {'an' if c[0] in 'aeiou' else 'a'} {c} {s}."],
    "count": [lambda n: f"There {'is' if n == 1 else 'are'} {_count(n)}.",
              lambda n: f"I count {_count(n)}.",
              lambda n: f"The image has {_count(n)}.",
              lambda n: f"{_count(n).capitalize()}."],
}
HOUSE = [0.70, 0.15, 0.10, 0.05]


def qa(objs, rng):
    """(prompt, kind, truthful content, [hallucinated content x3]) for one scene; a content is the
    argument tuple of the kind's phrasings (STYLES)."""
    present = {s: c for s, c, *_ in objs}
    kind = rng.choice(["describe", "shapes", "colour", "count"])
    absent_shapes = [s for s in SHAPES if s not in present]
    if kind == "colour":
        s = rng.choice(list(present))
        wrong = [(s, c) for c in rng.sample([c for c in COLOURS if c != present[s]], 3)]
        return f"What colour is the {s}?", kind, (s, present[s]), wrong
    if kind == "count":
        n = len(objs)
        return "How many shapes are there?", kind, (n,), [(k,) for k in rng.sample([k for k in range(1, 5) if k != n], 3)]
    prompt = "Describe the image." if kind == "describe" else "What shapes do you see?"
    truth = [(s, c) for s, c, *_ in objs]
    wrong = {}
    while len(wrong) < 3:
        o = [list(x) for x in truth]
        i = rng.randrange(len(o))
        mode = rng.choice(["colour", "shape", "extra"] if absent_shapes else ["colour"])
        if mode == "colour":
            o[i][1] = rng.choice([c for c in COLOURS if c != o[i][1]])
        elif mode == "shape":
            o[i][0] = rng.choice(absent_shapes)
        else:
            o.append([rng.choice(absent_shapes), rng.choice(list(COLOURS))])
        w = [tuple(x) for x in o]
        if w != truth:
            wrong[STYLES["describe"][0](w)] = w  # keyed by its house wording: dedup + a stable order
    return prompt, "describe", (truth,), [(wrong[k],) for k in sorted(wrong)]


def make_items(n, seed, mixed=False):
    """n items: dicts with the PIL image, prompt, truthful answer, 3 hallucinated answers. The four
    answers share one phrasing drawn from HOUSE (mixed=False: training data, one answerer), or each
    has its own, drawn uniformly (mixed=True: candidates from different answerers). Scenes and
    contents depend on the seed only, not on mixed."""
    rng = random.Random(seed)
    srng = random.Random(seed * 7919 + 1)  # phrasings: their own stream, so scenes don't depend on them
    items = []
    for _ in range(n):
        objs, bg = sample_scene(rng)
        img = draw(objs, bg, rng)
        prompt, kind, truth, wrong = qa(objs, rng)
        styles = STYLES[kind]
        if mixed:
            ks = [srng.randrange(len(styles)) for _ in range(4)]
        else:
            ks = [srng.choices(range(len(styles)), HOUSE)[0]] * 4
        items.append({"image": img, "objects": objs, "prompt": prompt, "styles": ks,
                      "truthful": styles[ks[0]](*truth),
                      "hallucinated": [styles[k](*w) for k, w in zip(ks[1:], wrong)]})
    return items
