/* eval_summary.c — tallies of eval records, overall and per group (see eval_summary.h). */
#include "eval_summary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally {
    char *name;
    long items, bad_lines;
    json_t *errors;              /* code -> count */
    long n_rewards;
    double mean, m2, best_sum;   /* Welford: mean and sum of squared deviations of all rewards */
    long pairs, wins, losses, ties;
    double margin_sum;
    double *margins;             /* [pairs] chosen - rejected */
    long margins_cap;
    long top1, correct, wrong, top1_ties;
} tally;

struct eval_summary {
    char *group_by;
    tally *t;                    /* [n]: t[0] all rows, then one per group value */
    int n, cap;
    json_t *index;               /* group value -> position in t */
};

static tally *add_tally(eval_summary *s, const char *name) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        tally *t = realloc(s->t, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        s->t = t, s->cap = cap;
    }
    tally *t = &s->t[s->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->errors = json_object();
    if (s->n) json_object_set_new(s->index, name, json_integer(s->n));
    s->n++;
    return t;
}

eval_summary *eval_summary_new(const char *group_by) {
    eval_summary *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->group_by = group_by ? strdup(group_by) : NULL;
    s->index = json_object();
    if (!add_tally(s, "all")) eval_summary_free(&s);
    return s;
}

void eval_summary_free(eval_summary **sp) {
    if (!sp || !*sp) return;
    eval_summary *s = *sp;
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].margins);
        json_decref(s->t[i].errors);
    }
    free(s->t);
    free(s->group_by);
    json_decref(s->index);
    free(s);
    *sp = NULL;
}

/* The tally of the row's group (NULL without --group-by). A value that is not a string is
 * named by its JSON text; a row without the field is "(none)". */
static tally *group_of(eval_summary *s, json_t *fields) {
    if (!s->group_by) return NULL;
    json_t *v = json_object_get(fields, s->group_by);
    char *text = !v ? strdup("(none)") : json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) return NULL;
    json_t *at = json_object_get(s->index, text);
    tally *t = at ? &s->t[json_integer_value(at)] : add_tally(s, text);
    free(text);
    return t;
}

static void add_reward(tally *t, double r) {
    t->n_rewards++;
    double d = r - t->mean;
    t->mean += d / (double)t->n_rewards;
    t->m2 += d * (r - t->mean);
}

/* reward of candidate idx in the ranking; NAN when absent */
static double reward_of(json_t *rank, json_int_t idx) {
    for (size_t i = 0; i < json_array_size(rank); i++) {
        json_t *r = json_array_get(rank, i);
        if (json_integer_value(json_object_get(r, "index")) == idx) return json_number_value(json_object_get(r, "reward"));
    }
    return NAN;
}

const char *eval_pair_outcome(json_t *rank, double *margin) {
    *margin = reward_of(rank, 0) - reward_of(rank, 1);
    return isnan(*margin) ? NULL : *margin > 0 ? "win" : *margin < 0 ? "loss" : "tie";
}

const char *eval_top1_outcome(json_t *rank, json_int_t gold) {
    double g = reward_of(rank, gold);
    if (isnan(g)) return NULL;
    int above = 0, equal = 0;
    for (size_t i = 0; i < json_array_size(rank); i++) {
        json_t *r = json_array_get(rank, i);
        if (json_integer_value(json_object_get(r, "index")) == gold) continue;
        double x = json_number_value(json_object_get(r, "reward"));
        above += x > g, equal += x == g;
    }
    return above ? "wrong" : equal ? "tie" : "correct";
}

static void tally_record(tally *t, json_t *rank, int pair, json_int_t gold) {
    t->items++;
    double best = -INFINITY;
    for (size_t i = 0; i < json_array_size(rank); i++) {
        double r = json_number_value(json_object_get(json_array_get(rank, i), "reward"));
        add_reward(t, r);
        if (r > best) best = r;
    }
    if (json_array_size(rank)) t->best_sum += best;
    double m;
    const char *po = pair ? eval_pair_outcome(rank, &m) : NULL;
    if (po) {
        if (t->pairs == t->margins_cap) {
            long cap = t->margins_cap ? 2 * t->margins_cap : 64;
            double *nm = realloc(t->margins, (size_t)cap * sizeof *nm);
            if (!nm) return;
            t->margins = nm, t->margins_cap = cap;
        }
        t->margins[t->pairs++] = m;
        t->wins += po[0] == 'w', t->losses += po[0] == 'l', t->ties += po[0] == 't';
        t->margin_sum += m;
    }
    const char *to = gold >= 0 ? eval_top1_outcome(rank, gold) : NULL;
    if (to) {
        t->top1++;
        t->correct += to[0] == 'c', t->wrong += to[0] == 'w', t->top1_ties += to[0] == 't';
    }
}

void eval_summary_add_record(eval_summary *s, json_t *rec) {
    json_t *rank = json_object_get(json_object_get(rec, "result"), "ranking");
    if (!json_is_array(rank)) return;
    int pair = json_object_get(rec, "chosen_wins") != NULL;
    json_t *g = json_object_get(rec, "gold");
    json_int_t gold = json_is_integer(g) ? json_integer_value(g) : -1;
    tally_record(&s->t[0], rank, pair, gold);
    tally *t = group_of(s, json_object_get(rec, "fields"));
    if (t) tally_record(t, rank, pair, gold);
}

static void tally_error(tally *t, const char *code) {
    t->bad_lines++;
    json_object_set_new(t->errors, code, json_integer(json_integer_value(json_object_get(t->errors, code)) + 1));
}

void eval_summary_add_error(eval_summary *s, json_t *fields, const char *code) {
    tally_error(&s->t[0], code);
    tally *t = group_of(s, fields);
    if (t) tally_error(t, code);
}

static json_t *ratio(long a, long b) { return b ? json_real((double)a / (double)b) : json_null(); }

static json_t *tally_json(const tally *t) {
    json_t *o = json_object();
    json_object_set_new(o, "items", json_integer(t->items));
    json_object_set_new(o, "bad_lines", json_integer(t->bad_lines));
    json_object_set_new(o, "errors", json_deep_copy(t->errors));
    json_object_set_new(o, "rewards", json_integer(t->n_rewards));
    json_object_set_new(o, "mean_reward", t->n_rewards ? json_real(t->mean) : json_null());
    json_object_set_new(o, "std_reward", t->n_rewards ? json_real(sqrt(t->m2 / (double)t->n_rewards)) : json_null());
    json_object_set_new(o, "mean_best_reward", t->items ? json_real(t->best_sum / (double)t->items) : json_null());
    json_object_set_new(o, "pairs", json_integer(t->pairs));
    json_object_set_new(o, "pair_wins", json_integer(t->wins));
    json_object_set_new(o, "pair_losses", json_integer(t->losses));
    json_object_set_new(o, "pair_ties", json_integer(t->ties));
    json_object_set_new(o, "pairwise_accuracy", ratio(t->wins, t->pairs));
    json_object_set_new(o, "pairwise_accuracy_without_ties", ratio(t->wins, t->wins + t->losses));
    json_object_set_new(o, "mean_margin", t->pairs ? json_real(t->margin_sum / (double)t->pairs) : json_null());
    json_object_set_new(o, "top1_items", json_integer(t->top1));
    json_object_set_new(o, "top1_correct", json_integer(t->correct));
    json_object_set_new(o, "top1_wrong", json_integer(t->wrong));
    json_object_set_new(o, "top1_ties", json_integer(t->top1_ties));
    json_object_set_new(o, "top1_accuracy", ratio(t->correct, t->top1));
    return o;
}

json_t *eval_summary_json(const eval_summary *s) {
    json_t *o = tally_json(&s->t[0]);
    if (s->group_by) {
        json_t *g = json_object();
        for (int i = 1; i < s->n; i++) json_object_set_new(g, s->t[i].name, tally_json(&s->t[i]));
        json_object_set_new(o, "group_by", json_string(s->group_by));
        json_object_set_new(o, "groups", g);
    }
    return o;
}

int eval_summary_groups(const eval_summary *s) { return s->n; }
const char *eval_summary_group_name(const eval_summary *s, int g) { return s->t[g].name; }
const double *eval_summary_margins(const eval_summary *s, int g, int *n) {
    *n = (int)s->t[g].pairs;
    return s->t[g].margins;
}
