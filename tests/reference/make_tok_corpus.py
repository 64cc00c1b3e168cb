#!/usr/bin/env python3
"""make_tok_corpus.py — writes tests/data/tok_corpus.jsonl: strings that break naive tokenizers, and
tests/data/tok_words.jsonl: word boundaries around added tokens (see the end of this file).

One JSON object per line, {"text": ...}. Deterministic (fixed seed); rerun after editing and
commit the output. Categories: captions, whitespace runs, newlines/tabs/CR, digits, punctuation
runs, accents (precomposed and combining), CJK, emoji and ZWJ sequences, RTL, control characters,
very long words, special and image tokens inside text (also glued to words), chat-template pieces,
and random mixtures of all of these."""
import json
import os
import random

R = random.Random(20261127)
out = []

captions = [
    "A red car parked on the side of a street.",
    "Two dogs playing with a frisbee in the park.",
    "The image shows a man riding a bicycle down a busy road, with buses behind him.",
    "A plate of food with broccoli, rice and grilled chicken.",
    "What is in the image?",
    "Describe this image in detail.",
    "There are 3 people in the photo; one of them holds an umbrella.",
    "The sign reads \"STOP\" in white letters on a red octagon.",
    "It's a sunny day: the sky is clear and blue!",
    "I don't know... maybe it's a cat? Or a small dog?",
    "A close-up of a vintage typewriter (circa 1950).",
    "The clock shows 10:45 p.m.; the temperature is -3.5°C.",
    "An e-mail address: someone@example.com, and a URL: https://example.org/a?b=c&d=e#f",
    "The man is wearing a hat, a jacket, and sunglasses.",
    "He said: 'Hello, world!'",
    "No, there is no giraffe in this picture.",
]
out += captions
out += [c.lower() for c in captions[:6]] + [c.upper() for c in captions[:6]]

# whitespace
for n in list(range(1, 21)) + [24, 31, 32, 33, 40, 64]:
    out.append(" " * n)
    out.append(" " * n + "x")
    out.append("x" + " " * n)
    out.append("a" + " " * n + "b")
out += ["\n", "\n\n", "\n\n\n", "\t", "\t\t", "\r", "\r\n", "\r\n\r\n", " \n ", "\n ", " \n", "\t \t",
        "a\nb", "a\tb", "a\rb", "a\r\nb", "line1\nline2\n", "\n\nParagraph\n\n", "  leading", "trailing  ",
        "\u00a0nbsp\u00a0", "\u2003em space", "\u3000ideographic space", "\u2028line sep", "\u2029para sep",
        "\u200bzero\u200bwidth", "\ufeffBOM at start", "word\u00adsoft hyphen", " \t\r\n\u000b\u000c "]
# digits and punctuation
out += ["0", "1", "12", "123", "1234", "12345", "3.14159", "1,000,000", "2026-11-27", "+1 (555) 010-9999",
        "007", "0x1F", "1e-10", "99.9%", "$100", "€50", "£3", "¥1000", "½ cup", "x² + y² = z²", "Ⅻ", "١٢٣",
        "!!!", "???", "...", "…", "!?!?", "---", "___", "***", "###", "@@@", "$$$", "%%%", "^^^", "&&&",
        "((()))", "[[[]]]", "{{{}}}", "<<<>>>", "''", '""', "``", "~~~", "|||", "\\\\", "//", ";;", "::",
        ":-)", ";)", "<3", "->", "=>", "!=", "==", "<=", ">=", "...!?", "a.b.c", "a-b-c", "a_b_c", "a/b/c"]
# accents, combining marks
out += ["café", "cafe\u0301", "naïve", "nai\u0308ve", "résumé", "Ångström", "Øre", "straße", "ĳ", "ﬁ", "Ǆ",
        "Zürich", "São Paulo", "Kraków", "Ελληνικά", "Русский текст", "Українська", "Tiếng Việt", "ภาษาไทย",
        "हिन्दी", "বাংলা", "தமிழ்", "ქართული", "Հայերեն", "a\u0300\u0301\u0302\u0303\u0304", "Z\u0351\u0368\u0312a\u0364\u0308lgo",
        "e\u0301\u0301\u0301", "\u0301leading combining", "ǅungla", "İstanbul", "ıi"]
# CJK
out += ["中文", "你好，世界！", "日本語のテキスト", "カタカナ", "ひらがな", "한국어 텍스트", "漢字漢字漢字", "龘",
        "𠀀𠀁𠀂", "中 文", "中\n文", "图片中有一只猫。", "これは猫です。", "这是一张照片，照片里有一辆红色的汽车。"]
# emoji and ZWJ
out += ["😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇩🇪", "❤️", "☺️", "🧑‍💻 coding", "cat 🐱 dog 🐶",
        "🤷‍♀️", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "👩🏿‍🔬", "✨✨✨", "🙂🙃", "\U0001F600\u200d\U0001F600"]
# RTL
out += ["مرحبا بالعالم", "שלום עולם", "English then عربي then English", "\u202eRTL override\u202c",
        "\u200fRLM\u200e LRM", "فارسی", "اردو", "ܐܪܡܝܐ"]
# control characters, one by one and mixed
for c in list(range(0, 32)) + [127, 0x80, 0x85, 0x9f]:
    out.append(chr(c))
    out.append("a" + chr(c) + "b")
out += ["\x00\x01\x02", "\x1b[31mred\x1b[0m", "\x7f\x7f", "bell\x07", "\ufffd", "\ufffd\ufffd", "\uffff", "\U0010ffff",
        "\ue000 private use", "\U000f0000"]
# long words
out += ["a" * 100, "a" * 1000, "ab" * 500, "antidisestablishmentarianism" * 20, "x" * 4097,
        "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "." * 300, "=" * 200, "-" * 128, "😀" * 200, "中" * 300, "é" * 250, " " * 300, "\n" * 50, "\t" * 33,
        "ab " * 400, "the " * 500]
# special and image tokens inside text
specials = ["<s>", "</s>", "<unk>", "<im_patch>", "<im_start>", "<im_end>", "<box>", "</box>", "<ref>", "</ref>",
            "<quad>", "</quad>"]
for s in specials:
    out += [s, s + s, " " + s, s + " ", " " + s + " ", "word" + s, s + "word", "word" + s + "word",
            "a " + s + " b", "\n" + s + "\n", s + "\n" + s]
out += ["<im_start>" + "<im_patch>" * 5 + "<im_end>\nWhat is this?", "<im_pat", "<im_start", "im_end>", "<<s>>",
        "</s >", "< /s>", "<S>", "<s></s>", "</s></s></s>", "<s>hello</s>", "x</s>\n", "</s>\n", "</s>\n<|user|>\n",
        "<image>", "<image>\nDescribe it.", "<|im_start|>", "<s><s><s>", "<unk>text<unk>", "<0x0A>", "<0x41><0x42>",
        "▁", "▁▁", "▁hello", "hello▁world", "▁" * 20, "<|endoftext|>"]
# chat template pieces
sysmsg = "You are an artificial intelligence assistant, which gives helpful, detailed, and polite answers to the human's questions."
out += ["<|system|>\n", "<|user|>\n", "<|assistant|>\n", "\n<|assistant|>\n", "\n<|user|>\n", "\n<|assistant|>\nThe",
        "<|system|>\n" + sysmsg + "</s>", sysmsg,
        "<|system|>\n" + sysmsg + "</s>\n<|user|>\n<im_start>" + "<im_patch>" * 8 + "<im_end>\nWhat is in the image?</s>\n<|assistant|>\nThe image shows a red car.</s>",
        "<|system|>\n" + sysmsg + "</s>\n<|user|>\nHi</s>\n<|assistant|>\n</s>",
        "<|system|>\n" + sysmsg + "</s>\n<|user|>\nQ</s>\n<|assistant|>\n  two leading spaces</s>",
        "<|system|>\n" + sysmsg + "</s>\n<|user|>\nQ</s>\n<|assistant|>\n\nnewline first</s>"]

# random mixtures
atoms = (["the", "a", "image", "shows", " ", "  ", "\n", "\t", "\r", ".", ",", "!", "?", "'", '"', "0", "42", "é", "e\u0301",
          "中", "文", "😀", "👨‍👩‍👧", "ع", "ש", "\x01", "\x7f", "<s>", "</s>", "<im_patch>", "<im_start>", "<im_end>",
          "<box>", "▁", "<0x0A>", "ﬁ", "ß", "İ", "Ω", "𝔘", "…", "—", "–", "_", "-", "/", "\\", "(", ")", "[", "]",
          "dog", "Dog", "DOG", "running", "unbelievable", "http", "://", "www", ".com", "é", "ñ", "ü", "ç"])
while len(out) < 700:
    n = R.randint(1, 30)
    out.append("".join(R.choice(atoms) for _ in range(n)))
for _ in range(80):  # random unicode code points, mostly BMP
    n = R.randint(1, 12)
    s = []
    for _ in range(n):
        while True:
            cp = R.randint(0x20, 0x2FFFF) if R.random() < 0.3 else R.randint(0x20, 0xFFFF)
            if not 0xD800 <= cp <= 0xDFFF:
                break
        s.append(chr(cp))
    out.append("".join(s))
out.append("")



def write_jsonl(name, strings):
    """Writes tests/data/NAME, one {"text": ...} per distinct string, in first-seen order."""
    seen, uniq = set(), []
    for s in strings:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", name)
    with open(path, "w", encoding="utf-8") as f:
        for s in uniq:
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
    print(f"{path}: {len(uniq)} strings")


write_jsonl("tok_corpus.jsonl", out)

# tok_words.jsonl: word boundaries around added tokens. Every added-token content of tok_files.py's
# sw_* tokenizers (WORD_TOKENS, kept in step with it) inside contexts that decide
# single_word/lstrip/rstrip: start and end of text, spaces, tabs, newlines, no-break space, letters,
# digits, underscore, Unicode letters (é ß 中), combining marks, superscript digits (No: not \w),
# letter numbers (Nl: \w), connector punctuation, joiners, punctuation, the token twice, glued to
# other added tokens; then whole sentences mixing them.
WORD_TOKENS = ["dog", "<sep>", "ß", "中", "42", "x_y", "né", "!?", "ok", "[e]", "猫", "7", "a_b", "über", "...", " hi"]

CONTEXTS = [
    "{c}", " {c}", "{c} ", " {c} ", "  {c}  ", "a{c}", "{c}a", "a{c}b", "1{c}", "{c}1", "_{c}", "{c}_",
    "é{c}", "{c}é", "ß{c}ß", "中{c}", "{c}中", ".{c}.", "({c})", "{c}{c}", "{c} {c}", "{c}  {c}", "x {c} y",
    "\n{c}\n", "\t{c}\t", "{c}\u0301", "e\u0301{c}", "²{c}", "{c}²", "Ⅻ{c}", "‿{c}", "{c}\u200d", "\u200c{c}",
    "-{c}-", "{c}'s", "the {c}.", "{c}\u00a0x", "x\u00a0{c}", "<s>{c}</s>", "{c}<sep>", "<sep>{c}", "{c}dog",
    "dog{c}", "a {c}b", "a{c} b", "{c}\u3000中", "😀{c}😀", "{c}\r\n",
]

SENTENCES = [
    "dog<sep>ß 中42 x_y né!? ok [e]猫7a_b über... hi",
    "hotdog dogs dog_dog dog-dog dog's DOG Dog",
    "book ok okay ok. ok, (ok) ok!? ok...",
    "42 4242 x42 42x 1.42 42_ _42 ４２",
    "The x_y axis and the a_b pair; x_y_z, a_b_c.",
    "Straße groß ß ßß ẞ über Über übermorgen",
    "中文 中 中国 我的猫 猫猫 猫 中猫",
    "né née nén  né\tné\nné",
    "[e] [e][e] x[e]y [e]. e",
    "7 77 7a a7 7. (7) 7_7",
    "... .... .. ...x x... x ... y",
    " hi hi  hi hi\u00a0hi\thi",
    "", " ", "  ", "\n", "<sep>", "<sep><sep>", "dog dog dog", "!?!?", "!? !?",
]


write_jsonl("tok_words.jsonl", [ctx.format(c=c) for c in WORD_TOKENS for ctx in CONTEXTS] + SENTENCES)
