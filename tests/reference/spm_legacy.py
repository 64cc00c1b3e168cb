"""spm_legacy — the Llama tokenizer of transformers 4.35 from a tokenizer.model alone (legacy mode)."""
import json
import os


class SpmLegacy:
    """transformers' Llama tokenizer from a tokenizer.model (legacy): special/added tokens are cut out
    first (leftmost-longest), every text piece is SentencePiece-encoded on its own with the dummy '▁'
    prefix; BOS first. Used when a checkpoint ships no tokenizer.json (as RLAIF-V-12B does)."""

    def __init__(self, model_dir):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        dec = json.load(open(os.path.join(model_dir, "tokenizer_config.json")))["added_tokens_decoder"]
        self.special = {v["content"]: int(k) for k, v in dec.items()}

    def encode(self, text, add_bos=True):
        ids, i, buf = ([1] if add_bos else []), 0, ""
        while i < len(text):
            hit = max((t for t in self.special if text.startswith(t, i)), key=len, default=None)
            if hit:
                if buf:
                    ids += self.sp.encode(buf)
                    buf = ""
                ids.append(self.special[hit])
                i += len(hit)
            else:
                buf += text[i]
                i += 1
        if buf:
            ids += self.sp.encode(buf)
        return ids
