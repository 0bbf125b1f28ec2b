/* internal.h - the report layer's private structures, shared by table.c,
 * compute.c, suppress.c and write.c. Not a public contract. */
#ifndef LOOPGATE_REPORT_INTERNAL_H
#define LOOPGATE_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loopgate/report.h"

struct lg_report_table {
    lg_report_row *rows;
    size_t n_rows, cap_rows;
    /* String dictionary: strs[id] points into arena chunks; slots is an
     * open-addressing hash of ids (0 = empty); row_of[id] is the row whose
     * referral id is id (UINT32_MAX: none), so a new version replaces. */
    const char **strs;
    uint32_t *row_of;
    size_t n_strs, cap_strs;
    uint32_t *slots;
    size_t cap_slots;
    char **chunks;
    size_t n_chunks, cap_chunks, chunk_used, chunk_cap;
    /* Row numbers sorted by created_ms; valid while !index_dirty. */
    uint32_t *by_created;
    size_t n_index;
    bool index_dirty;
    size_t bytes; /* allocated, for lg_report_table_bytes */
};

lg_status lg_report_intern(lg_report_table *t, const char *s, uint32_t *id);

#endif
