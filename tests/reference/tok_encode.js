// tok_encode.js TOKENIZER_JSON — the real Hugging Face tokenizers library as an oracle:
// reads JSON lines {"text": "..."} on stdin, writes {"ids": [...]} per line (BOS added, as
// tokenizer(text) with add_special_tokens=True does).
const path = require("path");
const readline = require("readline");
const { Tokenizer } = require(path.join(__dirname, "..", "node", "node_modules", "@anush008", "tokenizers"));

const tok = Tokenizer.fromFile(process.argv[2]);
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const lines = [];
rl.on("line", (l) => { if (l.trim()) lines.push(JSON.parse(l).text); });
rl.on("close", async () => {
  for (const t of lines) {
    const enc = await tok.encode(t, null, { addSpecialTokens: true });
    process.stdout.write(JSON.stringify({ ids: Array.from(enc.getIds()) }) + "\n");
  }
});
