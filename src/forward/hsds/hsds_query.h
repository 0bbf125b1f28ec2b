/* hsds_query.h - a FHIR HealthcareService query taken apart for the HSDS
 * adapter (docs/forwarding.md, Style C table). Private to src/forward/hsds/. */
#ifndef LG_FORWARD_HSDS_QUERY_H
#define LG_FORWARD_HSDS_QUERY_H

#include <stddef.h>

#include "loopgate/status.h"

#define HSDS_MAX_QUERY 4096  /* bytes of the raw query */
#define HSDS_MAX_PARAMS 32   /* name=value pairs */
#define HSDS_MAX_VALUE 256   /* bytes of one decoded value */
#define HSDS_MAX_COUNT 100   /* largest per_page asked of the directory */

typedef struct hsds_query {
    /* The HSDS parameters (decoded), NULL when not asked for. */
    char *search, *taxonomy, *organization, *postcode;
    int per_page; /* _count clamped to [1, HSDS_MAX_COUNT], 0 when absent */
    int page;     /* _page (1-based), 0 when absent */
    /* The FHIR parameters that shape the result (decoded; _count as
     * clamped), without _page, in the order given: for the paging links. */
    char *names[HSDS_MAX_PARAMS], *values[HSDS_MAX_PARAMS];
    size_t n;
} hsds_query;

/* Parse the raw query (may be NULL or empty) into q (zeroed first; free it
 * with hsds_query_free even on failure). Values are percent-decoded ('+'
 * is a space). An unknown parameter, a bad escape, a value that cannot be
 * mapped, a parameter given twice: LG_EINVAL with an issue whose location
 * is the parameter's name. _format and _pretty are accepted and dropped
 * (they shape the gateway's reply, not the directory's); empty values are
 * ignored. LG_ENOMEM. */
lg_status hsds_query_parse(const char *query, hsds_query *q, lg_issues *issues);
void hsds_query_free(hsds_query *q);

/* "n1=v1&n2=v2..." of q's FHIR parameters, re-encoded (lg_fwd_escape),
 * followed by "&_page=N" when page > 0. Caller frees; NULL on ENOMEM. */
char *hsds_query_fhir(const hsds_query *q, int page);

#endif
