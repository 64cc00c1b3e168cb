#!/usr/bin/env bash
# test_tokenize.sh RLAIFV TOK_DATA CORPUS — `rlaifv tokenize`: ids for every corpus line equal to the
# Hugging Face library's (expected.jsonl), with and without BOS, from a tokenizer.json file and from a
# tokenizer.model directory; bad lines answered with {"error"} in order while the tool goes on.
set -u
rlaifv=$1 data=$2 corpus=$3 fail=0
py=/usr/bin/python3
same() { # out expected_file key
  "$py" - "$1" "$2" "$3" <<'PY' || return 1
import json, sys
got = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want = [json.loads(l)[sys.argv[3]] for l in open(sys.argv[2], encoding="utf-8")]
bad = sum(1 for g, w in zip(got, want) if g.get("ids") != w)
print(f"  {len(got)} lines, {bad} differ")
sys.exit(0 if len(got) == len(want) and bad == 0 else 1)
PY
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for src in "$data/omni/tokenizer.json" "$data/spm_mistral"; do
  "$rlaifv" tokenize --tokenizer "$src" <"$corpus" >"$tmp/bos" || { echo "FAIL exit status ($src)"; fail=1; }
  same "$tmp/bos" "$data/omni/expected.jsonl" bos && echo "ok bos $src" || { echo "FAIL bos $src"; fail=1; }
  "$rlaifv" tokenize --tokenizer "$src" --no-bos <"$corpus" >"$tmp/nobos"
  same "$tmp/nobos" "$data/omni/expected.jsonl" nobos && echo "ok no-bos $src" || { echo "FAIL no-bos $src"; fail=1; }
done
printf '%s\n' '{"text": "Hello world"}' 'not json' '{"txt": 1}' '{"text": 5}' '{"text": ""}' |
  "$rlaifv" tokenize --tokenizer "$data/omni/tokenizer.json" >"$tmp/mixed"
n=$(wc -l <"$tmp/mixed")
if [ "$n" != 5 ] || [ "$(sed -n 1p "$tmp/mixed")" != '{"ids": [1, 22557, 1526]}' ] ||
   ! sed -n 2p "$tmp/mixed" | grep -q '^{"error": *"invalid JSON' ||
   ! sed -n 3p "$tmp/mixed" | grep -q '"error"' || ! sed -n 4p "$tmp/mixed" | grep -q '"error"' ||
   [ "$(sed -n 5p "$tmp/mixed")" != '{"ids": [1]}' ]; then
  echo "FAIL bad lines:"; cat "$tmp/mixed"; fail=1
else echo "ok bad lines"; fi
"$rlaifv" tokenize --tokenizer /no/such/path </dev/null 2>"$tmp/err"; st=$?
[ "$st" = 1 ] && grep -q "no such file" "$tmp/err" && echo "ok missing tokenizer" || { echo "FAIL missing tokenizer ($st)"; fail=1; }
exit $fail
