/* eval_report.c — the HTML page of `rlaifv eval --report` (see eval_report.h). */
#include "eval_report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_BINS 20
#define HIST_W 480
#define HIST_H 140

static void esc(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* One table cell: the figure rounded for the eye, exact in data-v ("" for null). */
static void cell(FILE *f, json_t *t, const char *key) {
    json_t *v = json_object_get(t, key);
    fprintf(f, "<td data-key=\"%s\"", key);
    if (json_is_integer(v)) fprintf(f, " data-v=\"%lld\">%lld", (long long)json_integer_value(v), (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(f, " data-v=\"%.17g\">%.4f", json_real_value(v), json_real_value(v));
    else if (json_is_object(v)) {
        fputs(">", f);
        const char *k;
        json_t *n;
        json_object_foreach(v, k, n) {
            esc(f, k);
            fprintf(f, " %lld ", (long long)json_integer_value(n));
        }
    } else fputs(" data-v=\"\">–", f);
    fputs("</td>", f);
}

static const char *cols[][2] = {
    {"items", "items"}, {"bad_lines", "failed rows"}, {"errors", "errors"}, {"mean_reward", "mean reward"},
    {"std_reward", "std reward"}, {"mean_best_reward", "mean best"}, {"pairs", "pairs"}, {"pair_wins", "wins"},
    {"pair_ties", "ties"}, {"pair_losses", "losses"}, {"pairwise_accuracy", "pairwise acc."},
    {"mean_margin", "mean margin"}, {"top1_items", "top-1 items"}, {"top1_ties", "top-1 ties"},
    {"top1_accuracy", "top-1 acc."},
};

static void row(FILE *f, const char *name, json_t *t) {
    fputs("<tr data-group=\"", f);
    esc(f, name);
    fputs("\"><th>", f);
    esc(f, name);
    fputs("</th>", f);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) cell(f, t, cols[i][0]);
    fputs("</tr>\n", f);
}

static void histogram(FILE *f, const char *name, const double *m, int n, double lo, double hi) {
    int count[HIST_BINS] = {0}, top = 1;
    for (int i = 0; i < n; i++) {
        int b = (int)((m[i] - lo) / (hi - lo) * HIST_BINS);
        count[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
    for (int b = 0; b < HIST_BINS; b++) top = count[b] > top ? count[b] : top;
    fputs("<figure class=\"hist\" data-group=\"", f);
    esc(f, name);
    fprintf(f, "\" data-pairs=\"%d\"><figcaption>", n);
    esc(f, name);
    fprintf(f, " (%d pairs)</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\">\n", n,
            HIST_W, HIST_H + 20);
    double bw = (double)HIST_W / HIST_BINS;
    for (int b = 0; b < HIST_BINS; b++) {
        double h = (double)count[b] / top * HIST_H;
        double from = lo + (hi - lo) * b / HIST_BINS;
        fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" data-count=\"%d\">"
                   "<title>%.4g .. %.4g: %d</title></rect>\n",
                from + (hi - lo) / HIST_BINS <= 0 ? "neg" : "pos", b * bw + 1, HIST_H - h, bw - 2, h, count[b], from,
                from + (hi - lo) / HIST_BINS, count[b]);
    }
    if (lo < 0 && hi > 0) {
        double x = -lo / (hi - lo) * HIST_W;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\" class=\"zero\"/>\n", x, x, HIST_H);
    }
    fprintf(f, "<text x=\"0\" y=\"%d\">%.4g</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.4g</text>\n</svg></figure>\n",
            HIST_H + 15, lo, HIST_W, HIST_H + 15, hi);
}

/* One bar per group and accuracy kind (pairwise, top-1) that has items. */
static void accuracy_bars(FILE *f, json_t *summary, const eval_summary *sum) {
    static const char *kinds[][2] = {{"pairwise_accuracy", "pairwise"}, {"top1_accuracy", "top-1"}};
    json_t *groups = json_object_get(summary, "groups");
    int n = 0;
    for (int g = 0; g < eval_summary_groups(sum); g++)
        for (int k = 0; k < 2; k++) {
            json_t *t = g ? json_object_get(groups, eval_summary_group_name(sum, g)) : summary;
            n += json_is_real(json_object_get(t, kinds[k][0]));
        }
    if (!n) {
        fputs("<p>No pairs and no items with a gold index: no accuracy to show.</p>\n", f);
        return;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\">\n", 620, n * 24 + 4);
    int y = 2;
    for (int g = 0; g < eval_summary_groups(sum); g++)
        for (int k = 0; k < 2; k++) {
            const char *name = eval_summary_group_name(sum, g);
            json_t *t = g ? json_object_get(groups, name) : summary, *v = json_object_get(t, kinds[k][0]);
            if (!json_is_real(v)) continue;
            double a = json_real_value(v);
            fputs("<g class=\"acc\" data-group=\"", f);
            esc(f, name);
            fprintf(f, "\" data-kind=\"%s\" data-v=\"%.17g\"><text x=\"0\" y=\"%d\">", kinds[k][0], a, y + 15);
            esc(f, name);
            fprintf(f, " %s</text><rect x=\"200\" y=\"%d\" width=\"%.1f\" height=\"18\"/>"
                       "<text x=\"%.1f\" y=\"%d\">%.1f%%</text></g>\n",
                    kinds[k][1], y, a * 350, 205 + a * 350, y + 15, a * 100);
            y += 24;
        }
    fputs("</svg>\n", f);
}

int eval_report_write(const char *path, const eval_summary *sum, json_t *summary, const char *title, char *msg,
                      size_t cap) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rlaifv eval: ", f);
    esc(f, title);
    fputs("</title>\n<style>\nbody{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\n"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
          "th{background:#f3f3f3}tr th:first-child{text-align:left}\n"
          "rect.pos{fill:#3a7}rect.neg{fill:#c54}.acc rect{fill:#47a}line.zero{stroke:#000;stroke-dasharray:3}\n"
          "figure{display:inline-block;margin:0 2em 1em 0}svg text{font-size:12px}\n</style></head><body>\n", f);
    fputs("<h1>rlaifv eval: ", f);
    esc(f, title);
    fputs("</h1>\n<h2>Summary</h2>\n<table id=\"summary\"><tr><th>group</th>", f);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) fprintf(f, "<th>%s</th>", cols[i][1]);
    fputs("</tr>\n", f);
    row(f, "all", summary);
    json_t *groups = json_object_get(summary, "groups");
    for (int g = 1; g < eval_summary_groups(sum); g++)
        row(f, eval_summary_group_name(sum, g), json_object_get(groups, eval_summary_group_name(sum, g)));
    fputs("</table>\n<h2>Accuracy per group</h2>\n", f);
    accuracy_bars(f, summary, sum);
    fputs("<h2>Reward margin (chosen &minus; rejected) per group</h2>\n", f);
    double lo = INFINITY, hi = -INFINITY;
    int n0;
    const double *m0 = eval_summary_margins(sum, 0, &n0);
    for (int i = 0; i < n0; i++) lo = m0[i] < lo ? m0[i] : lo, hi = m0[i] > hi ? m0[i] : hi;
    if (!n0) {
        fputs("<p>No chosen/rejected pairs.</p>\n", f);
    } else {
        if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5; /* all margins equal: one visible bin */
        for (int g = 0; g < eval_summary_groups(sum); g++) {
            int n;
            const double *m = eval_summary_margins(sum, g, &n);
            histogram(f, eval_summary_group_name(sum, g), m, n, lo, hi);
        }
    }
    /* the summary itself; '<' escaped so no string can close the script element */
    char *js = json_dumps(summary, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    fputs("<script type=\"application/json\" id=\"summary-json\">", f);
    for (const char *p = js ? js : "null"; *p; p++)
        if (*p == '<') fputs("\\u003c", f);
        else fputc(*p, f);
    fputs("</script>\n</body></html>\n", f);
    free(js);
    if (ferror(f) | fclose(f)) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
