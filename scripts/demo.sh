#!/usr/bin/env bash
# demo.sh — the main job: build, start rlaifvd on the embedded default model pair
# (models/demo/{policy,reference}; a small random pair in the real layout if it is absent),
# score a sample job through the daemon, print the ranking, stop the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
bin=build/release

if [ -f models/demo/policy/config.json ]; then
  policy=models/demo/policy ref=models/demo/reference
  image=models/demo/sample.png
  prompt=$(cat models/demo/sample_prompt.txt)
  mapfile -t cands < models/demo/sample_candidates.txt
else
  policy=build/demo/policy ref=build/demo/reference
  [ -f $policy/config.json ] || /usr/bin/python3 tests/reference/make_ckpt.py --out $policy --tokenizer --seed 1
  [ -f $ref/config.json ] || /usr/bin/python3 tests/reference/make_ckpt.py --out $ref --tokenizer --seed 7
  image=../shared/testdata/images/car_sheep.jpeg
  [ -f "$image" ] || image=$(ls tests/fuzz/corpus/image/*.png | head -1)
  prompt="Why did the car in the picture stop?"
  cands=("Because a flock of sheep is crossing the road." "The car stopped at a red traffic light." "There is no car in the picture.")
  echo "(models/demo is absent: using a random model pair in the real layout; its ranking means nothing)"
fi

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ep=tcp://127.0.0.1:$port
echo "== rlaifvd --model $policy --ref-model $ref --bind $ep"
$bin/daemon/rlaifvd --model $policy --ref-model $ref --bind $ep --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  $bin/clients/rlaifv call --server $ep --timeout-ms 200 ping >/dev/null 2>&1 && break
  sleep 0.2
done
args=()
for c in "${cands[@]}"; do args+=(--candidate "$c"); done
echo "== rlaifv score --server $ep --image $image --prompt \"$prompt\" (${#cands[@]} candidates)"
$bin/clients/rlaifv score --server $ep --image "$image" --prompt "$prompt" "${args[@]}" --text
kill -TERM $pid
wait $pid
trap - EXIT
echo "== rlaifvd stopped cleanly"
