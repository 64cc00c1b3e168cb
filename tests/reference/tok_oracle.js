#!/usr/bin/env node
// tok_oracle.js DATA_DIR CORPUS WORDS — the real Hugging Face tokenizers library (Node binding) as oracle.
// For every DATA_DIR/<name>/tokenizer.json writes DATA_DIR/<name>/expected.jsonl (sw_* directories,
// the added-token flag variants: words_expected.jsonl over WORDS instead), one line per
// corpus string: {"bos": ids with special tokens, "nobos": ids without, "dec": decode(nobos),
// "dec_skip": decode(bos, skip_special_tokens)}. In DATA_DIR/omni also writes prompt_expected.jsonl:
// whole conversations built as the official chat.py + Zephyr template do (docs/model.md §7.1),
// tokenised as one string, as omni_preprocess tokenises them.
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, '..', 'node', 'node_modules', '@anush008', 'tokenizers'));

const SYSTEM = "You are an artificial intelligence assistant, which gives helpful, detailed, and polite answers to the human's questions.";

function conversation(system, question, numQuery, response) {
  const img = '<im_start>' + '<im_patch>'.repeat(numQuery) + '<im_end>';
  const user = question.includes('<image>') ? question.split('<image>').join(img) : img + '\n' + question;
  // Zephyr template, add_generation_prompt=False, then .strip()
  const s = '<|system|>\n' + system + '</s>\n' + '<|user|>\n' + user + '</s>\n' + '<|assistant|>\n' + response + '</s>\n';
  return s.trim();
}

async function main() {
  const [dir, corpusPath, wordsPath] = process.argv.slice(2);
  if (!wordsPath) throw new Error('usage: tok_oracle.js DATA_DIR CORPUS WORDS');
  const read = (p) => fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l).text);
  const main = read(corpusPath), words = read(wordsPath);
  for (const name of fs.readdirSync(dir).sort()) {
    const tj = path.join(dir, name, 'tokenizer.json');
    if (!fs.existsSync(tj)) continue;
    const tok = Tokenizer.fromFile(tj);
    const sw = name.startsWith('sw_');
    const corpus = sw ? words : main;
    const lines = [];
    for (const text of corpus) {
      const bos = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
      const nobos = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
      const dec = await tok.decode(nobos, false);
      const decSkip = await tok.decode(bos, true);
      lines.push(JSON.stringify({ bos, nobos, dec, dec_skip: decSkip }));
    }
    fs.writeFileSync(path.join(dir, name, sw ? 'words_expected.jsonl' : 'expected.jsonl'), lines.join('\n') + '\n');
    if (name === 'omni') {
      const cases = [
        [null, 'What is in the image?', 256, ['The image shows a red car.', '', '  two spaces', '\nnewline first',
          'Yes</s> and no', '你好 😀 émoji', 'x'.repeat(300), 'trailing space ', 'The']],
        [null, '<image>\nDescribe it.', 4, ['A cat.', ' A cat.', 'A cat.\n']],
        [null, 'Look: <image> what is this?', 8, ['A dog', '']],
        ['Custom system text.', 'Q?', 1, ['Answer.', '\t tab']],
        [null, '', 2, ['', ' ']],
      ];
      const out = [];
      for (const [system, question, numQuery, cands] of cases) {
        const full = [];
        for (const c of cands) full.push((await tok.encode(conversation(system || SYSTEM, question, numQuery, c), null, { addSpecialTokens: true })).getIds());
        out.push(JSON.stringify({ system, question, num_query: numQuery, candidates: cands, full_ids: full }));
      }
      fs.writeFileSync(path.join(dir, name, 'prompt_expected.jsonl'), out.join('\n') + '\n');
    }
    console.log(`tok_oracle: ${name}: ${corpus.length} strings`);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
