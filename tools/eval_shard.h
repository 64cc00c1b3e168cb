/* eval_shard.h — one `rlaifv eval` data set scored as n independent runs (`--shard i/n`, e.g. one
 * per Slurm array task) and their outputs merged back into the output of one run (`--merge`;
 * docs/eval.md "Sharding").
 * Owns: the shard spec, which shard a row belongs to, the shard manifest written next to a shard's
 * output (OUT.shard.json: the shard, the input's hash, the scorer, the rows that failed, the run's
 * figures) and the checks and record order of a merge. Knows nothing of scoring or the summary. */
#ifndef RLV_EVAL_SHARD_H
#define RLV_EVAL_SHARD_H

#include <jansson.h>
#include <stddef.h>

#define EVAL_MAX_SHARDS 10000

typedef struct eval_shard {
    int index, count;          /* 0 <= index < count; count 0: not sharded */
} eval_shard;

/* "i/n" (0 <= i < n <= EVAL_MAX_SHARDS; numbered from 0 as Slurm's array task ids). 0, or -1 with
 * msg naming what is wrong. */
int eval_shard_parse(eval_shard *s, const char *spec, char *msg, size_t cap);

/* The shard (0..count-1) of a row whose resume key (eval_id_key) is key: FNV-1a 64 of the key's
 * bytes, modulo count. The same on every machine and for every run, whatever the input order. */
int eval_shard_of(const char *key, int count);

/* Writes out + ".shard.json" (temp file + rename) for the shard s of input file in:
 *   scorer  what the scores depend on: {"policy", "reference", "weight_bytes", "compute", "reward",
 *           "beta", "token_logps"}; shards scored with another scorer do not merge (weight_bytes
 *           and compute may be null: unknown, not compared)
 *   failed  [[code, fields or null, where], ...]: the rows of this shard that failed in this run
 *   run     {"new_items", "skipped_done", "concurrency", "seconds"} of this run
 * Borrows all three. 0, or -1 with msg. */
int eval_shard_write_manifest(const char *out, const eval_shard *s, const char *in, json_t *scorer, json_t *failed,
                              json_t *run, char *msg, size_t cap);

/* Merges the outputs shards[0..n_shards) of the shards of one run over the input file in into out,
 * records in input order, bytes unchanged. Checks first, and writes nothing when one fails:
 * every shard's manifest is there and says the same count, each index 0..count-1 comes once, the
 * input's hash and the scorer are the same; every record has an id of the input, in the shard of
 * its file, once; every row of the input has a record or failed in its shard's last run.
 * out is written to a temp file, fsync-ed and renamed over out.
 * Returns 0 with *failed (new: [[code, fields, where], ...] the failed rows in input order) and
 * *run (new: the shards' run figures: new_items, skipped_done and concurrency summed, seconds of
 * the longest); or -1 with code[] (the check that failed, docs/eval.md lists them: no_manifest,
 * shard_mismatch, duplicate_shard, missing_shard, input_mismatch, model_mismatch,
 * reward_mismatch, bad_record, duplicate_record, wrong_shard, unknown_record, missing_record,
 * write_error) and msg. */
int eval_merge(const char *in, const char *out, char **shards, int n_shards, json_t **failed, json_t **run,
               char code[32], char *msg, size_t cap);

#endif
