/* eval_summary.h — the figures of an `rlaifv eval` output file (docs/eval.md): items, errors by
 * code, mean / std of rewards, pairwise accuracy (ties counted apart), top-1 accuracy against a
 * gold index, each overall and per value of one row field (--group-by).
 * Owns: the per-group tallies and the pair margins (for the report). Everything is derived from
 * the records themselves (ranking + the pair / gold markers), so a summary of a file written by
 * several resumed runs equals the summary of one run. */
#ifndef RLV_EVAL_SUMMARY_H
#define RLV_EVAL_SUMMARY_H

#include <jansson.h>

typedef struct eval_summary eval_summary;

/* group_by: a row field name, or NULL for totals only. NULL on out of memory. */
eval_summary *eval_summary_new(const char *group_by);
void eval_summary_free(eval_summary **s);

/* One record of the output file (the object written for a scored row). */
void eval_summary_add_record(eval_summary *s, json_t *rec);
/* One row that failed in this run: its error code and its fields (NULL when unknown). */
void eval_summary_add_error(eval_summary *s, json_t *fields, const char *code);

/* A new JSON object: the totals, plus "group_by" and "groups" {value: totals} with group_by. */
json_t *eval_summary_json(const eval_summary *s);

/* A pair's outcome from its ranking (candidate 0 chosen, 1 rejected): "win", "loss" or "tie"
 * (equal rewards), NULL when the ranking lacks one of them; *margin = chosen - rejected. */
const char *eval_pair_outcome(json_t *rank, double *margin);
/* The gold candidate's place: "correct" (strictly above all others), "tie" (best, with others
 * equal), "wrong"; NULL when the ranking lacks it. */
const char *eval_top1_outcome(json_t *rank, json_int_t gold);

/* Groups in first-seen order (0 = all rows), for the report: name and pair margins
 * (chosen - rejected reward), owned by s. */
int eval_summary_groups(const eval_summary *s);
const char *eval_summary_group_name(const eval_summary *s, int g);
const double *eval_summary_margins(const eval_summary *s, int g, int *n);

#endif
