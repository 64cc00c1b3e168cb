#!/usr/bin/env node
// bench_tok_hf.js TOKENIZER_JSON TEXT — encode speed of the Hugging Face tokenizers library (Node
// binding, Rust core) on the same text and units as bench_tok: one encode per line (awaited in
// turn, one thread), encodeBatch of all lines (the library's own thread pool), and the whole text
// as one string. Prints MB/s and the token count (must equal bench_tok's).
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, '..', 'tests', 'node', 'node_modules', '@anush008', 'tokenizers'));

async function main() {
  const [tj, textPath] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tj);
  const text = fs.readFileSync(textPath, 'utf8');
  const mb = Buffer.byteLength(text) / 1e6;
  const lines = text.split('\n').filter((l) => l.length);
  const best = async (f) => { let b = Infinity, r; for (let i = 0; i < 3; i++) { const t0 = process.hrtime.bigint(); r = await f(); b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e9); } return [b, r]; };
  const [t1, n1] = await best(async () => { let n = 0; for (const l of lines) n += (await tok.encode(l, null, { addSpecialTokens: false })).getLength(); return n; });
  const [t2, n2] = await best(async () => (await tok.encodeBatch(lines, { addSpecialTokens: false })).reduce((a, e) => a + e.getLength(), 0));
  const [t3, n3] = await best(async () => (await tok.encode(text, null, { addSpecialTokens: false })).getLength());
  console.log(`hf per-line (1 thread):   ${(mb / t1).toFixed(2)} MB/s, ${n1} tokens, ${lines.length} lines`);
  console.log(`hf encodeBatch (pool):    ${(mb / t2).toFixed(2)} MB/s, ${n2} tokens`);
  console.log(`hf whole text, one call:  ${(mb / t3).toFixed(2)} MB/s, ${n3} tokens`);
}
main().catch((e) => { console.error(e); process.exit(1); });
