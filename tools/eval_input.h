/* eval_input.h — the rows of an `rlaifv eval` data set (docs/eval.md): JSON lines or one JSON
 * array, each row turned into one scoring item (image bytes or none, prompt, candidates, gold).
 * Owns: the open input file and, per item, the parsed row and the decoded image. Knows nothing
 * of scoring, the output file or the summary. */
#ifndef RLV_EVAL_INPUT_H
#define RLV_EVAL_INPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVAL_MAX_CANDIDATES 4096

typedef struct eval_input eval_input;

/* Opens path; a file whose first non-blank byte is '[' is read as one JSON array (all at once),
 * anything else as JSON lines (one at a time). 0, or -1 with a message. */
int eval_input_open(eval_input **out, const char *path, char *msg, size_t cap);
/* Rows in the file (non-blank lines or array elements), for the progress bar. */
int eval_input_count(const eval_input *in);
/* The next row: 1 with *row (new reference; NULL when the line is not JSON, msg says why) and
 * *where (1-based line or element number), 0 at the end. */
int eval_input_next(eval_input *in, json_t **row, int *where, char *msg, size_t cap);
/* "line" or "element": what *where counts. */
const char *eval_input_unit(const eval_input *in);
void eval_input_close(eval_input **in);

typedef struct eval_item {
    int where;                 /* line / element number */
    json_t *row;               /* owned: the parsed row */
    json_t *id;                /* borrowed from row, or owned (the position) when the row has none */
    char *key;                 /* malloc-ed: id as canonical JSON, the resume key */
    json_t *fields;            /* owned: the row's short scalar fields (ds_name, ...) copied to the record */
    uint8_t *image;            /* malloc-ed encoded image; NULL: text-only ("image": null) */
    size_t image_len;
    const char *prompt;        /* into row */
    int n;                     /* candidates */
    const char **cands;        /* malloc-ed [n], strings into row */
    size_t *lens;              /* malloc-ed [n] */
    int pair;                  /* chosen/rejected: cands[0] chosen, cands[1] rejected */
    int gold;                  /* index of the gold candidate, -1: none */
    char code[32];             /* error: "bad_json", "bad_input", "bad_image", ... ("" when none) */
    char msg[512];
} eval_item;

/* Fills it from row (takes the reference). Relative image paths (and a URL's last component)
 * are looked up under image_root. Returns 0, or -1 with it->code / it->msg set; the key and
 * fields are set whenever the row has an id, so an error can still be grouped. */
int eval_item_parse(eval_item *it, json_t *row, int where, const char *image_root);
/* An item whose row was not JSON: code bad_json. */
void eval_item_bad_json(eval_item *it, int where, const char *why);
/* Frees what the item owns and zeroes it. */
void eval_item_clear(eval_item *it);

/* The resume key of an id: canonical JSON text, malloc-ed. */
char *eval_id_key(json_t *id);
/* The id of a row (new reference): its "id", else its "idx", else where (the line / element
 * number), also for a row that is not a JSON object or not JSON at all (row NULL). */
json_t *eval_row_id(json_t *row, int where);

#endif
