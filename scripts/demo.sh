#!/usr/bin/env bash
# demo.sh — the main job: build, start rlaifvd on the embedded default model pair
# (models/demo/{policy,reference}, what rlaifvd serves when no --model is given),
# score a sample job through the daemon, print the ranking, stop the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --runtime >/dev/null   # the build and runtime packages only, no test oracles
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DRLV_BUILD_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target rlaifvd rlaifv >/dev/null
bin=build/demo

# The embedded default: models/demo (a small trained pair of the real architecture; see its README.md).
image=models/demo/sample.png
prompt=$(cat models/demo/sample_prompt.txt)
mapfile -t cands < models/demo/sample_candidates.txt

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ep=tcp://127.0.0.1:$port
echo "== rlaifvd --bind $ep   (no --model: the embedded demo pair models/demo)"
$bin/daemon/rlaifvd --bind $ep --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  $bin/tools/rlaifv call --server $ep --timeout-ms 200 ping >/dev/null 2>&1 && break
  sleep 0.2
done
args=()
for c in "${cands[@]}"; do args+=(--candidate "$c"); done
echo "== rlaifv score --server $ep --image $image --prompt \"$prompt\" (${#cands[@]} candidates)"
$bin/tools/rlaifv score --server $ep --image "$image" --prompt "$prompt" "${args[@]}" --text
kill -TERM $pid
wait $pid
trap - EXIT
echo "== rlaifvd stopped cleanly"
