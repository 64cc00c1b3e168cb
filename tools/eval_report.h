/* eval_report.h — `rlaifv eval --report FILE.html`: one self-contained HTML page (inline CSS and
 * SVG, no script needed to read it) with the summary table, the reward-margin histogram
 * (chosen - rejected) per group and the accuracy per group. Every figure is also written as a
 * data-v attribute with full precision, and the summary JSON is embedded (script
 * #summary-json), so a test can check the page against `--summary`. Owns nothing. */
#ifndef RLV_EVAL_REPORT_H
#define RLV_EVAL_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "eval_summary.h"

/* title: shown in the page (the input file). 0, or -1 with a message. */
int eval_report_write(const char *path, const eval_summary *sum, json_t *summary, const char *title, char *msg,
                      size_t cap);

#endif
