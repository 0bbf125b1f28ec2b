/* outbox.h - the operator's view of the forwarding tables (store.h,
 * "forwarding outbox"): one plain JSON form of jobs and inbound events,
 * written by the REST operations (GET /$outbox, /$outbox-events,
 * POST /$outbox-replay) and by `loopgate outbox --data` alike, so the
 * command prints the same thing online and offline.
 *
 *   job:    {"id":3,"platform":"uu","kind":"create","task_id":"t1",
 *            "referral_id":"sr1"|null,"target":"p9"|null,"remote_id":..|null,
 *            "state":"pending"|"done"|"dead","attempts":2,
 *            "last_error":"..."|null,"created_ms":..,"next_at_ms":..,
 *            "updated_ms":..}
 *   page:   {"jobs":[job...],"counts":{"pending":n,"done":n,"dead":n},
 *            "next_after":id}        -- next_after only when more follow
 *   event:  {"seq":1,"platform":..,"event_id":..,"task_id":..|null,
 *            "status":..|null,"outcome":"applied"|"ignored"|"parked",
 *            "detail":..|null,"received_ms":..}
 *   events: {"events":[event...],"next_after":seq}
 */
#ifndef LOOPGATE_OUTBOX_H
#define LOOPGATE_OUTBOX_H

#include <stdint.h>

#include "loopgate/buf.h"
#include "loopgate/store.h"

/* Largest page a listing hands out (more is asked for in several pages). */
#define LG_OUTBOX_PAGE_MAX 1000

/* "pending", "done", "dead" (static strings); NULL for another value. */
const char *lg_outbox_state_name(int state);
/* The state named name, or -1 when name is not one of the three. */
int lg_outbox_state_parse(const char *name);

/* Append one job as JSON (the form above) to b. LG_ETOOLARGE when b is full. */
lg_status lg_outbox_job_write_json(lg_buf *b, const lg_outbox_job *j);
/* Append one inbound event as JSON to b. */
lg_status lg_inbound_event_write_json(lg_buf *b, const lg_inbound_event *e);

/* Read a page of jobs from st - state (-1 any), platform (NULL any), id >
 * after_id, at most count (1..LG_OUTBOX_PAGE_MAX, else LG_EINVAL) - and the
 * counts by state, in one read snapshot, and append the page document to b. */
lg_status lg_outbox_page_json(lg_store *st, int state, const char *platform, int64_t after_id,
                              int count, lg_buf *b);
/* The same for inbound events: outcome NULL = any, seq > after_seq. */
lg_status lg_inbound_events_page_json(lg_store *st, const char *outcome, int64_t after_seq,
                                      int count, lg_buf *b);

#endif
