#!/usr/bin/env bash
# submit.sh — score a data set on a Slurm cluster: N array tasks, each with its own rlaifvd and one
# shard (rlaifv_shard.sbatch), then one merge task that starts once all of them succeeded
# (rlaifv_merge.sbatch, --dependency=afterok). Prints the two job ids.
#
#   deploy/slurm/submit.sh IN OUT_DIR N [sbatch options for the shard tasks...]
#   RLAIFV_MODEL=/shared/RLAIF-V-12B RLAIFV_REF_MODEL=/shared/OmniLMM-12B RLAIFV_BIN=/opt/rlaifv/bin \
#     deploy/slurm/submit.sh /shared/rlaifv_pairs.jsonl /shared/run1 16 --partition=cpu
#
# RLAIFV_MERGE_AFTER=afterany merges even when a shard task failed (a row that failed in its shard
# is then reported as one run reports it; a task that did not finish stops the merge with
# missing_record or no_manifest). RLAIFV_MERGE_SBATCH_ARGS: sbatch options of the merge task.
# Other variables: see rlaifv_shard.sbatch.
set -euo pipefail
if (($# < 3)); then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
in=$(realpath "$1")
out=$(realpath -m "$2")
n=$3
shift 3
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: N must be a whole number >= 1, not '$n'" >&2; exit 2; }
mkdir -p "$out"
export RLAIFV_IN=$in RLAIFV_OUT_DIR=$out RLAIFV_SHARDS=$n
array=$(sbatch --parsable --array="0-$((n - 1))" --output="$out/shard-%a.log" "$@" "$here/rlaifv_shard.sbatch")
array=${array%%;*}
# shellcheck disable=SC2086  # a list of options
merge=$(sbatch --parsable --dependency="${RLAIFV_MERGE_AFTER:-afterok}:$array" --kill-on-invalid-dep=yes \
  --output="$out/merge.log" ${RLAIFV_MERGE_SBATCH_ARGS:-} "$here/rlaifv_merge.sbatch")
echo "${array} ${merge%%;*}"
