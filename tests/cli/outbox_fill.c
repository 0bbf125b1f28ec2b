/* outbox_fill.c - test helper for tests/cli/test_outbox.sh: puts a known
 * set of forward jobs and inbound events into the store in DIR through
 * store.h (the same calls the forwarder makes), so `loopgate outbox` has
 * something to list, show and replay.
 *
 *   job 1  uu pending  Task/t1
 *   job 2  uu dead     Task/t2   last error "HTTP 500 from https://uu.example"
 *   job 3  fh done     Task/t3   remote id R-3
 *   job 4  fh dead     Task/t4   last error "HTTP 400"
 *   events uu ev-1 applied; uu ev-2 parked ("completed -> accepted is not
 *          allowed"); fh ev-1 ignored
 *
 * Usage: outbox_fill DIR. Exit 0, or 1 with the reason on stderr. */
#include <stdio.h>

#include "loopgate/store.h"

static int fill(lg_store *st)
{
    static const char *const plat[4] = {"uu", "uu", "fh", "fh"};
    static const char *const task[4] = {"t1", "t2", "t3", "t4"};
    int64_t id[4];
    for(int i = 0; i < 4; i++) {
        lg_outbox_job j = {.platform = (char *)plat[i], .kind = "create", .task_id = (char *)task[i],
                           .referral_id = "sr-1", .target = "prog-1",
                           .created_ms = 1764547200000 + i, .next_at_ms = 1764547200000 + i};
        if(lg_store_outbox_add(st, &j, &id[i]))
            return 1;
    }
    if(lg_store_outbox_update(st, id[1], LG_OUTBOX_DEAD, 8, 0, "HTTP 500 from https://uu.example",
                              NULL, 1764547300000) ||
       lg_store_outbox_update(st, id[2], LG_OUTBOX_DONE, 1, 0, NULL, "R-3", 1764547300000) ||
       lg_store_outbox_update(st, id[3], LG_OUTBOX_DEAD, 1, 0, "HTTP 400", NULL, 1764547300000))
        return 1;
    lg_inbound_event ev[3] = {
        {.platform = "uu", .event_id = "ev-1", .task_id = "t1", .status = "accepted",
         .outcome = "applied", .received_ms = 1764547400000},
        {.platform = "uu", .event_id = "ev-2", .task_id = "t1", .status = "accepted",
         .outcome = "parked", .detail = "completed -> accepted is not allowed",
         .received_ms = 1764547400001},
        {.platform = "fh", .event_id = "ev-1", .task_id = "t3", .status = "pending",
         .outcome = "ignored", .received_ms = 1764547400002},
    };
    for(int i = 0; i < 3; i++)
        if(lg_store_inbound_event_add(st, &ev[i]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    lg_store *st = NULL;
    lg_issues is = {0};
    if(argc != 2) {
        fprintf(stderr, "usage: outbox_fill DIR\n");
        return 1;
    }
    if(lg_store_open(argv[1], &st, &is)) {
        fprintf(stderr, "outbox_fill: cannot open %s\n", argv[1]);
        lg_issues_free(&is);
        return 1;
    }
    int rc = lg_store_begin(st) || fill(st) || lg_store_commit(st);
    if(rc)
        fprintf(stderr, "outbox_fill: cannot fill %s\n", argv[1]);
    lg_store_close(st);
    return rc;
}
