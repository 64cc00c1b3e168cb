/* model_config.c — the model's config.json -> rlv_model_config (see model_config.h). Every required field is checked for
 * presence and type; the error names the field. Derived sizes are checked for consistency
 * (divisibility, perfect-square num_query) so later modules can trust them. Numbers of any size
 * load (jnum.h): one we do not read cannot fail the file, one we read is range-checked. */
#include "model_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jnum.h"
#include "prefix.h"

static int get_int(json_t *root, const char *key, int required, int dflt, int lo, int *out, rlv_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (required) return rlv_errf(err, RLV_ECONFIG, "config.json: missing field '%s'", key);
        *out = dflt;
        return RLV_OK;
    }
    int64_t x;
    int r = jnum_int(v, lo, 1 << 30, &x);
    if (r == JNUM_ENOTINT)
        return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be an integer", key);
    if (r == JNUM_ERANGE)
        return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' = %.16g out of range [%d, %d]",
                        key, json_number_value(v), lo, 1 << 30);
    *out = (int)x;
    return RLV_OK;
}

static int get_num(json_t *root, const char *key, int required, double dflt, double *out, rlv_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (required) return rlv_errf(err, RLV_ECONFIG, "config.json: missing field '%s'", key);
        *out = dflt;
        return RLV_OK;
    }
    if (!json_is_number(v)) return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be a number", key);
    *out = json_number_value(v);
    if (!isfinite(*out) || *out <= 0)
        return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be a positive number", key);
    return RLV_OK;
}

static int get_bool(json_t *root, const char *key, int dflt, int *out, rlv_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v) { *out = dflt; return RLV_OK; }
    if (!json_is_boolean(v)) return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be true or false", key);
    *out = json_is_true(v);
    return RLV_OK;
}

static int get_str(json_t *root, const char *key, int required, char *out, size_t cap, rlv_err *err) {
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (required) return rlv_errf(err, RLV_ECONFIG, "config.json: missing field '%s'", key);
        out[0] = 0;
        return RLV_OK;
    }
    if (!json_is_string(v)) return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be a string", key);
    snprintf(out, cap, "%s", json_string_value(v));
    return RLV_OK;
}

/* The EVA02-E tower of the real checkpoints (timm eva02_enormous_patch14_clip_224). */
static const rlv_vision_config EVA02_E = {1792, 16, 64, 15360, 14, 16, 1e-6};

static int parse_vision(json_t *root, rlv_model_config *c, rlv_err *err) {
    json_t *v = json_object_get(root, "vision_config");
    if (!v) {
        if (!prefix_skip(c->mm_vision_tower, "eva02_enormous_patch14"))
            return rlv_errf(err, RLV_ECONFIG,
                            "config.json: unknown vision tower '%s' and no 'vision_config' to size it",
                            c->mm_vision_tower);
        c->vision = EVA02_E;
        return RLV_OK;
    }
    if (!json_is_object(v)) return rlv_errf(err, RLV_ECONFIG, "config.json: field 'vision_config' must be an object");
    struct { const char *k; int *p; int lo; } f[] = {
        {"embed_dim", &c->vision.embed_dim, 1}, {"num_heads", &c->vision.num_heads, 1},
        {"depth", &c->vision.depth, 2},         {"mlp_dim", &c->vision.mlp_dim, 1},
        {"patch_size", &c->vision.patch_size, 1}, {"base_grid", &c->vision.base_grid, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char key[64];
        snprintf(key, sizeof key, "vision_config.%s", f[i].k);
        json_t *x = json_object_get(v, f[i].k);
        if (!x) return rlv_errf(err, RLV_ECONFIG, "config.json: missing field '%s'", key);
        int64_t n;
        if (jnum_int(x, f[i].lo, 1 << 20, &n))
            return rlv_errf(err, RLV_ECONFIG, "config.json: field '%s' must be an integer in [%d, %d]", key, f[i].lo,
                            1 << 20);
        *f[i].p = (int)n;
    }
    c->vision.ln_eps = EVA02_E.ln_eps; /* the same LayerNorm class whatever the sizes */
    return RLV_OK;
}

static int derive(rlv_model_config *c, rlv_err *err) {
    if (c->hidden_size % c->num_attention_heads)
        return rlv_errf(err, RLV_ECONFIG, "config.json: hidden_size %d not divisible by num_attention_heads %d",
                        c->hidden_size, c->num_attention_heads);
    if (c->num_attention_heads % c->num_key_value_heads)
        return rlv_errf(err, RLV_ECONFIG, "config.json: num_attention_heads %d not divisible by num_key_value_heads %d",
                        c->num_attention_heads, c->num_key_value_heads);
    c->head_dim = c->hidden_size / c->num_attention_heads;
    if (c->head_dim % 2) return rlv_errf(err, RLV_ECONFIG, "config.json: head dim %d must be even (RoPE)", c->head_dim);
    c->kv_dim = c->num_key_value_heads * c->head_dim;
    c->query_grid = (int)lround(sqrt((double)c->num_query));
    if (c->query_grid * c->query_grid != c->num_query)
        return rlv_errf(err, RLV_ECONFIG, "config.json: num_query %d is not a perfect square", c->num_query);
    if (c->hidden_size % RLV_RESAMPLER_HEAD_DIM)
        return rlv_errf(err, RLV_ECONFIG, "config.json: hidden_size %d not a multiple of %d (resampler heads)",
                        c->hidden_size, RLV_RESAMPLER_HEAD_DIM);
    c->resampler_heads = c->hidden_size / RLV_RESAMPLER_HEAD_DIM;
    if (c->vision.embed_dim % c->vision.num_heads)
        return rlv_errf(err, RLV_ECONFIG, "config.json: vision embed_dim %d not divisible by num_heads %d",
                        c->vision.embed_dim, c->vision.num_heads);
    c->vit_grid = (c->image_size + c->vision.patch_size - 1) / c->vision.patch_size; /* dynamic_img_pad */
    c->vit_tokens = c->vit_grid * c->vit_grid + 1;
    if (c->bos_token_id >= c->vocab_size || c->eos_token_id >= c->vocab_size)
        return rlv_errf(err, RLV_ECONFIG, "config.json: bos/eos token id outside vocab_size %d", c->vocab_size);
    return RLV_OK;
}

int model_config_parse(rlv_model_config *c, const char *text, size_t len, rlv_err *err) {
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JNUM_DECODE, &je);
    if (!root) return rlv_errf(err, RLV_ECONFIG, "config.json: not valid JSON (line %d: %s)", je.line, je.text);
    int rc = RLV_OK;
    if (!json_is_object(root)) { rc = rlv_errf(err, RLV_ECONFIG, "config.json: top level is not an object"); goto done; }
    if ((rc = get_str(root, "model_type", 1, c->model_type, sizeof c->model_type, err))) goto done;
    if ((rc = get_str(root, "mm_vision_tower", 1, c->mm_vision_tower, sizeof c->mm_vision_tower, err))) goto done;
    if ((rc = get_str(root, "torch_dtype", 0, c->torch_dtype, sizeof c->torch_dtype, err))) goto done;
    struct { const char *k; int *p; int req, dflt, lo; } ints[] = {
        {"hidden_size", &c->hidden_size, 1, 0, 2},
        {"intermediate_size", &c->intermediate_size, 1, 0, 1},
        {"num_hidden_layers", &c->num_hidden_layers, 1, 0, 1},
        {"num_attention_heads", &c->num_attention_heads, 1, 0, 1},
        {"num_key_value_heads", &c->num_key_value_heads, 0, -1, 1},
        {"vocab_size", &c->vocab_size, 1, 0, 3},
        {"max_position_embeddings", &c->max_position_embeddings, 0, 32768, 1},
        {"num_query", &c->num_query, 1, 0, 1},
        {"image_size", &c->image_size, 1, 0, 1},
        {"bos_token_id", &c->bos_token_id, 0, 1, 0},
        {"eos_token_id", &c->eos_token_id, 0, 2, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if ((rc = get_int(root, ints[i].k, ints[i].req, ints[i].dflt, ints[i].lo, ints[i].p, err))) goto done;
    if (c->num_key_value_heads < 0) c->num_key_value_heads = c->num_attention_heads; /* MHA default */
    json_t *sw = json_object_get(root, "sliding_window"); /* null in some Mistral configs: no window */
    if (sw && !json_is_null(sw) && (rc = get_int(root, "sliding_window", 1, 0, 1, &c->sliding_window, err))) goto done;
    if ((rc = get_num(root, "rms_norm_eps", 1, 0, &c->rms_norm_eps, err))) goto done;
    if ((rc = get_num(root, "rope_theta", 0, 10000.0, &c->rope_theta, err))) goto done;
    if ((rc = get_bool(root, "tie_word_embeddings", 0, &c->tie_word_embeddings, err))) goto done;
    if ((rc = get_bool(root, "mm_use_im_start_end", 1, &c->mm_use_im_start_end, err))) goto done;
    if ((rc = parse_vision(root, c, err))) goto done;
    rc = derive(c, err);
done:
    json_decref(root);
    return rc;
}

int model_config_load(rlv_model_config *c, const char *path, rlv_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rlv_errf(err, RLV_EIO, "%s: cannot open", path);
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > (1 << 24) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return rlv_errf(err, RLV_EIO, "%s: unreadable or larger than 16 MiB", path);
    }
    buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return rlv_errf(err, RLV_ENOMEM, "%s: out of memory", path); }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    int rc = got == (size_t)n ? model_config_parse(c, buf, got, err) : rlv_errf(err, RLV_EIO, "%s: short read", path);
    free(buf);
    return rc;
}
