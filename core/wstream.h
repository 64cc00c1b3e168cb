/* wstream.h — weights read from the disk ahead of their use by direct reads (O_DIRECT) into a
 * small ring of slots, for a model whose weights do not stay in memory.
 * Owns: a plan (items = groups of file byte ranges, e.g. one decoder layer's matrices, and where
 * each range lands in a slot), and a stream: the slots (allocated at open), one reader thread and
 * the hand-off between it and the one thread that consumes the items.
 *
 * Why not the page cache: a checkpoint larger than memory streamed through its mapping is faulted
 * in page by page on the compute threads and reclaimed by the kernel on every pass (10-16 % of the
 * CPU in the kernel on the full-size pair, docs/performance.md). Direct reads go from the disk to
 * the slot with no copy, no fault and nothing to reclaim, on a thread that only waits.
 *
 * Use: the consumer takes items 0, 1, ..., n-1 in order (a pass), then 0 again; the reader keeps
 * the next n_slots items loaded, so the first items of the next pass are read while the rest of
 * the job computes. wstream_get waits for an item and returns its slot, or NULL when its reads
 * failed (the caller then reads the weights from the mapping: slower, never wrong);
 * wstream_done frees the slot; wstream_abort ends a pass early (the next get is item 0).
 * Knows nothing of models. */
#ifndef RLV_WSTREAM_H
#define RLV_WSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Direct reads need offsets, lengths and buffers aligned to the device's logical block: 4096
 * covers every Linux block device. */
#define WSTREAM_ALIGN 4096

typedef struct wstream_plan wstream_plan;
typedef struct wstream wstream;

/* An empty plan of n_items items. RLV_EINVAL (n_items < 1), RLV_ENOMEM. */
int wstream_plan_new(wstream_plan **out, int n_items, rlv_err *err);
void wstream_plan_free(wstream_plan **p);
/* Adds bytes [off, off + n) of file `path` to item i: its bytes will be at slot + *slot_off once
 * the item is loaded. RLV_EINVAL (item out of range, n 0), RLV_ENOMEM. */
int wstream_plan_add(wstream_plan *p, int item, const char *path, uint64_t off, size_t n, size_t *slot_off,
                     rlv_err *err);
/* Bytes of the largest item's slot, and of all the ranges (read once per pass). */
size_t wstream_plan_slot_bytes(const wstream_plan *p);
size_t wstream_plan_bytes(const wstream_plan *p);
int wstream_plan_items(const wstream_plan *p);
/* Checks that every file of the plan opens for direct reads. RLV_OK, or RLV_EUNSUPPORTED naming
 * the file and why (e.g. a file system without O_DIRECT, such as tmpfs). */
int wstream_plan_check(const wstream_plan *p, rlv_err *err);
/* Ends the building of *p: a plan with no bytes is freed (*p NULL: nothing to read directly),
 * else its files are checked (wstream_plan_check); a plan that fails is freed. RLV_OK or
 * wstream_plan_check's error. */
int wstream_plan_finish(wstream_plan **p, rlv_err *err);

/* A stream of plan p (which must outlive it) with n_slots >= 1 slots; the reader starts loading
 * item 0 at once. RLV_EINVAL, RLV_ENOMEM, RLV_EUNSUPPORTED (a file does not open with O_DIRECT),
 * RLV_EIO (thread creation). */
int wstream_open(wstream **out, const wstream_plan *p, int n_slots, rlv_err *err);
/* Stops the reader (an unfinished read is abandoned) and frees the slots; NULL is a no-op. */
void wstream_close(wstream **s);
/* Waits until item i (the next of the pass: i must be the one after the last wstream_done, 0
 * after the last item or an abort) is loaded; returns its slot, or NULL when a read of it failed.
 * The slot stays valid until wstream_done(s, i). */
const uint8_t *wstream_get(wstream *s, int i);
/* The consumer is done with item i (the one wstream_get returned last). */
void wstream_done(wstream *s, int i);
/* Ends the pass before its last item (after a wstream_done, never between get and done): items
 * loaded for it are dropped, a read in flight abandoned, and the next get is item 0. */
void wstream_abort(wstream *s);
/* Bytes of the slots. */
size_t wstream_bytes(const wstream *s);

typedef struct wstream_stats {
    uint64_t items;        /* items loaded */
    uint64_t failed;       /* items whose reads failed (served from the mapping instead) */
    uint64_t bytes;        /* bytes read */
    double wait_s;         /* seconds wstream_get waited for the reader */
} wstream_stats;
void wstream_get_stats(wstream *s, wstream_stats *out);

#ifdef __cplusplus
}
#endif
#endif
