/* query.c - lg_query to SQL for the SQLite backend (lg_store_search and
 * lg_store_count).
 *
 * The SQL is built per query; every value is a bound parameter, never text
 * pasted into the statement. Each query parameter becomes one condition on
 * the res row r (parameters are ANDed); the values of one parameter are ORed
 * inside a sub-select on idx.
 *
 * Decisions where search.h leaves room:
 *  - a parameter with no values adds no condition;
 *  - :not (any index-based type) keeps resources with no matching entry,
 *    resources without the parameter included;
 *  - q->type NULL searches every type (system search);
 *  - :missing values are ORed like any values (true,false matches all);
 *  - token :text compares lg_search_normalise()d text, so it is a case- and
 *    accent-insensitive substring match on s3;
 *  - an absolute reference value (s3) matches the indexed string exactly;
 *    s1/s2 the parser may have split off an absolute URL are not used, so
 *    the REST layer must turn a URL on its own base into Type/id first;
 *  - DATE prefixes follow the R4 range table: eq = resource range inside the
 *    value range, ne = not eq, gt = resource range reaches above the value,
 *    lt = below, ge = gt or eq, le = lt or eq, sa = starts after the value,
 *    eb = ends before, ap = overlaps the value widened by 10% of its distance
 *    from now;
 *  - NUMBER and QUANTITY: eq/ne/sa/eb use the value's precision range; gt/lt/
 *    ge/le compare with the exact value (the middle of the range), as the
 *    R4 number table says ("gt100: greater than exactly 100"); ap widens
 *    the value by 10% of itself;
 *  - _id and _lastUpdated are answered from res; they accept :missing
 *    (a resource always has both) and _id accepts :not;
 *  - max_seq bounds the seq of the *current* version (idx only holds current
 *    versions): a resource updated after the first page of a search leaves
 *    the later pages of that search rather than appearing twice.
 * Unsupported combinations (composite, special other than _id/_lastUpdated,
 * :identifier, modifiers that do not fit the type) are LG_EINVAL with an
 * issue located at the parameter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/buf.h"
#include "loopgate/time.h"
#include "sq.h"

#define SQL_MAX (4u << 20)

typedef struct bval {
    int is_int;
    const char *s; /* borrowed from the query, or == owned */
    char *owned;
    int64_t i;
} bval;

typedef struct sqlq {
    lg_buf sql;
    bval *b;
    size_t nb, capb;
    lg_status st;
    int64_t now;
} sqlq;

static void add(sqlq *q, const char *s)
{
    if(!q->st)
        q->st = lg_buf_adds(&q->sql, s);
}

/* Append a "?" bound to a text or integer; takes ownership of owned. */
static void bind_slot(sqlq *q, int is_int, const char *s, char *owned, int64_t i)
{
    if(q->st)
        goto drop;
    if(q->nb == q->capb) {
        size_t n = q->capb ? q->capb * 2 : 16;
        bval *nb = realloc(q->b, n * sizeof(*nb));
        if(!nb) {
            q->st = LG_ENOMEM;
            goto drop;
        }
        q->b = nb;
        q->capb = n;
    }
    q->b[q->nb++] = (bval){.is_int = is_int, .s = owned ? owned : s, .owned = owned, .i = i};
    q->st = lg_buf_adds(&q->sql, "?");
    return;
drop:
    free(owned);
}

static void add_text(sqlq *q, const char *s) { bind_slot(q, 0, s ? s : "", NULL, 0); }
static void add_int(sqlq *q, int64_t i) { bind_slot(q, 1, NULL, NULL, i); }
static void add_owned(sqlq *q, char *s)
{
    if(!s && !q->st)
        q->st = LG_ENOMEM;
    bind_slot(q, 0, NULL, s, 0);
}

/* A LIKE pattern '%s%' with s's wildcards escaped by '\'. Caller frees. */
static char *like_contains(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n * 2 + 3), *p = o;
    if(!o)
        return NULL;
    *p++ = '%';
    for(; *s; s++) {
        if(*s == '%' || *s == '_' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '%';
    *p = '\0';
    return o;
}

/* Every string starting with s sorts in [s, s + U+10FFFF): the upper bound
 * of a prefix match as an index range. Caller frees. */
static char *prefix_upper(const char *s)
{
    static const char top[] = "\xf4\x8f\xbf\xbf";
    size_t n = strlen(s);
    char *o = malloc(n + sizeof(top));
    if(o) {
        memcpy(o, s, n);
        memcpy(o + n, top, sizeof(top));
    }
    return o;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if(__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_abs(int64_t a) { return a == INT64_MIN ? INT64_MAX : a < 0 ? -a : a; }

/* The exact value of a number range from the parser: its middle. */
static int64_t range_mid(int64_t lo, int64_t hi)
{
    if(hi <= lo)
        return lo;
    return lo + (int64_t)(((uint64_t)hi - (uint64_t)lo + 1) / 2);
}

/* "lo_col >= vlo AND hi_col <= vhi": the resource range inside the value's. */
static void contained(sqlq *q, const char *lo, const char *hi, int64_t vlo, int64_t vhi)
{
    add(q, "("); add(q, lo); add(q, " >= "); add_int(q, vlo);
    add(q, " AND "); add(q, hi); add(q, " <= "); add_int(q, vhi); add(q, ")");
}

static void cmp(sqlq *q, const char *col, const char *op, int64_t v)
{
    add(q, col); add(q, op); add_int(q, v);
}

/* The condition of one prefixed value [vlo, vhi] on a range lo..hi. */
static void range_cond(sqlq *q, const char *lo, const char *hi, int dates, lg_prefix pfx,
                       int64_t vlo, int64_t vhi)
{
    int64_t x = range_mid(vlo, vhi);
    switch(pfx) {
    case LG_PFX_EQ:
        contained(q, lo, hi, vlo, vhi);
        break;
    case LG_PFX_NE:
        add(q, "NOT "); contained(q, lo, hi, vlo, vhi);
        break;
    case LG_PFX_GT:
        dates ? cmp(q, hi, " > ", vhi) : cmp(q, hi, " > ", x);
        break;
    case LG_PFX_LT:
        dates ? cmp(q, lo, " < ", vlo) : cmp(q, lo, " < ", x);
        break;
    case LG_PFX_GE:
        if(!dates) {
            cmp(q, hi, " >= ", x);
            break;
        }
        add(q, "("); cmp(q, hi, " > ", vhi); add(q, " OR "); contained(q, lo, hi, vlo, vhi);
        add(q, ")");
        break;
    case LG_PFX_LE:
        if(!dates) {
            cmp(q, lo, " <= ", x);
            break;
        }
        add(q, "("); cmp(q, lo, " < ", vlo); add(q, " OR "); contained(q, lo, hi, vlo, vhi);
        add(q, ")");
        break;
    case LG_PFX_SA:
        cmp(q, lo, " > ", vhi);
        break;
    case LG_PFX_EB:
        cmp(q, hi, " < ", vlo);
        break;
    case LG_PFX_AP: {
        int64_t w = dates ? sat_abs(sat_add(q->now, -x)) / 10 : sat_abs(x) / 10;
        int64_t alo = sat_add(x, -w), ahi = sat_add(x, w);
        if(alo > vlo)
            alo = vlo;
        if(ahi < vhi)
            ahi = vhi;
        add(q, "("); cmp(q, lo, " <= ", ahi); add(q, " AND "); cmp(q, hi, " >= ", alo);
        add(q, ")");
        break;
    }
    default:
        add(q, "0");
    }
}

/* One value's match condition on an idx row aliased i. */
static void value_cond(sqlq *q, const lg_query_param *qp, const lg_query_value *v)
{
    switch(qp->type) {
    case LG_SP_TOKEN:
        if(qp->modifier == LG_MOD_TEXT) {
            const char *t = v->s3 ? v->s3 : v->s2 ? v->s2 : "";
            char *n = lg_search_normalise(t);
            add(q, "lg_norm(i.s3) LIKE ");
            add_owned(q, n ? like_contains(n) : NULL);
            add(q, " ESCAPE '\\'");
            free(n);
            break;
        }
        add(q, "(1");
        if(v->s2) { add(q, " AND i.s2 = "); add_text(q, v->s2); }
        if(v->s1) { add(q, " AND i.s1 = "); add_text(q, v->s1); }
        add(q, ")");
        break;
    case LG_SP_REFERENCE:
        if(v->s3) {
            add(q, "i.s3 = "); add_text(q, v->s3);
        } else {
            const char *t = v->s1 ? v->s1 : qp->type_modifier;
            add(q, "(i.s2 = "); add_text(q, v->s2);
            if(t) { add(q, " AND i.s1 = "); add_text(q, t); }
            add(q, ")");
        }
        break;
    case LG_SP_STRING:
        if(qp->modifier == LG_MOD_EXACT) {
            add(q, "i.s2 = "); add_text(q, v->s2);
        } else if(qp->modifier == LG_MOD_CONTAINS) {
            add(q, "i.s1 LIKE "); add_owned(q, like_contains(v->s1 ? v->s1 : ""));
            add(q, " ESCAPE '\\'");
        } else {
            const char *pre = v->s1 ? v->s1 : "";
            add(q, "(i.s1 >= "); add_text(q, pre);
            add(q, " AND i.s1 < "); add_owned(q, prefix_upper(pre)); add(q, ")");
        }
        break;
    case LG_SP_URI:
        add(q, "i.s1 = "); add_text(q, v->s1);
        break;
    case LG_SP_DATE:
    case LG_SP_NUMBER:
    case LG_SP_QUANTITY:
        add(q, "(");
        range_cond(q, "i.lo", "i.hi", qp->type == LG_SP_DATE, v->prefix, v->lo, v->hi);
        if(qp->type == LG_SP_QUANTITY && v->s2) { add(q, " AND i.s2 = "); add_text(q, v->s2); }
        if(qp->type == LG_SP_QUANTITY && v->s3) { add(q, " AND i.s3 = "); add_text(q, v->s3); }
        add(q, ")");
        break;
    default:
        add(q, "0");
    }
}

static lg_status unsupported(const lg_query_param *qp, lg_issues *issues, const char *why)
{
    lg_issues_add(issues, LG_SEV_ERROR, "not-supported", qp->code,
                  "Search parameter '%s' cannot be searched here: %s", qp->code, why);
    return LG_EINVAL;
}

/* Refuse what this backend cannot express, before any SQL is built. */
static lg_status check_param(const lg_query_param *qp, lg_issues *issues)
{
    lg_modifier m = qp->modifier;
    if(!qp->code)
        return LG_EINTERNAL;
    if(strcmp(qp->code, "_id") == 0)
        return m == LG_MOD_NONE || m == LG_MOD_NOT || m == LG_MOD_MISSING
                   ? LG_OK : unsupported(qp, issues, "_id takes no such modifier");
    if(strcmp(qp->code, "_lastUpdated") == 0)
        return m == LG_MOD_NONE || m == LG_MOD_MISSING
                   ? LG_OK : unsupported(qp, issues, "_lastUpdated takes no such modifier");
    if(m == LG_MOD_MISSING || m == LG_MOD_NOT || m == LG_MOD_NONE) {
        if(qp->type == LG_SP_COMPOSITE || qp->type == LG_SP_SPECIAL)
            return unsupported(qp, issues, "composite and special parameters are not supported");
    } else if(!((m == LG_MOD_TEXT && qp->type == LG_SP_TOKEN) ||
                ((m == LG_MOD_EXACT || m == LG_MOD_CONTAINS) && qp->type == LG_SP_STRING) ||
                (m == LG_MOD_TYPE && qp->type == LG_SP_REFERENCE && qp->type_modifier))) {
        return unsupported(qp, issues, "the modifier does not apply to this parameter type");
    }
    if(m == LG_MOD_MISSING)
        return LG_OK;
    for(size_t k = 0; k < qp->nvalues; k++) {
        const lg_query_value *v = &qp->values[k];
        int ok = 1;
        switch(qp->type) {
        case LG_SP_TOKEN: ok = m == LG_MOD_TEXT ? (v->s3 || v->s2) : (v->s1 || v->s2); break;
        case LG_SP_REFERENCE: ok = v->s3 || v->s2; break;
        case LG_SP_STRING: ok = m == LG_MOD_EXACT ? v->s2 != NULL : v->s1 != NULL; break;
        case LG_SP_URI: ok = v->s1 != NULL; break;
        case LG_SP_DATE: case LG_SP_NUMBER: case LG_SP_QUANTITY:
            ok = v->lo <= v->hi && (unsigned)v->prefix <= LG_PFX_AP;
            break;
        default: ok = 0;
        }
        if(!ok)
            return unsupported(qp, issues, "a value is incomplete");
    }
    return LG_OK;
}

static int is_row_param(const lg_query_param *qp)
{
    return strcmp(qp->code, "_id") == 0 || strcmp(qp->code, "_lastUpdated") == 0;
}

/* How well an index parameter is likely to narrow the result, to pick the
 * one whose matching rows drive the search (-1: it cannot drive). */
static int drive_score(const lg_query_param *qp)
{
    if(qp->nvalues == 0 || is_row_param(qp) || qp->modifier == LG_MOD_NOT ||
       qp->modifier == LG_MOD_MISSING)
        return -1;
    switch(qp->type) {
    case LG_SP_TOKEN:
        if(qp->modifier == LG_MOD_TEXT)
            return 0;
        return qp->values[0].s1 && qp->values[0].s2 ? 4 : 3;
    case LG_SP_REFERENCE: case LG_SP_URI: return 3;
    case LG_SP_STRING: return qp->modifier == LG_MOD_CONTAINS ? 0 : 2;
    default: return 1;
    }
}

/* The condition of one query parameter on the res row r. The driving
 * parameter becomes "r.rid IN (rows matching)", which SQLite answers with
 * the idx indexes and rowid lookups; every other index condition is a
 * correlated [NOT] EXISTS probe through idx_rid on the candidate rows. */
static void param_cond(sqlq *q, const lg_query *qq, const lg_query_param *qp, int drives)
{
    int is_id = strcmp(qp->code, "_id") == 0;
    if(qp->nvalues == 0)
        return;
    if(qp->modifier != LG_MOD_MISSING && !is_row_param(qp)) {
        if(drives) {
            add(q, " AND r.rid IN (SELECT i.rid FROM idx i WHERE ");
            if(qq->type) { add(q, "i.type = "); add_text(q, qq->type); add(q, " AND "); }
        } else {
            add(q, qp->modifier == LG_MOD_NOT ? " AND NOT EXISTS" : " AND EXISTS");
            add(q, "(SELECT 1 FROM idx i WHERE i.rid = r.rid AND ");
        }
        add(q, "i.param = "); add_text(q, qp->code); add(q, " AND (");
        for(size_t k = 0; k < qp->nvalues; k++) {
            if(k)
                add(q, " OR ");
            value_cond(q, qp, &qp->values[k]);
        }
        add(q, "))");
        return;
    }
    add(q, is_id && qp->modifier == LG_MOD_NOT ? " AND NOT (" : " AND (");
    for(size_t k = 0; k < qp->nvalues; k++) {
        const lg_query_value *v = &qp->values[k];
        if(k)
            add(q, " OR ");
        if(qp->modifier == LG_MOD_MISSING) {
            if(is_row_param(qp)) {
                add(q, v->missing ? "0" : "1");
            } else {
                add(q, v->missing ? "NOT EXISTS" : "EXISTS");
                add(q, "(SELECT 1 FROM idx i WHERE i.rid = r.rid AND i.param = ");
                add_text(q, qp->code);
                add(q, ")");
            }
        } else if(is_id) {
            add(q, "r.id = "); add_text(q, v->s2);
        } else {
            range_cond(q, "r.last_updated", "r.last_updated", 1, v->prefix, v->lo, v->hi);
        }
    }
    add(q, ")");
}

static void order_and_page(sqlq *q, const lg_query *qq)
{
    int desc = qq->sort == LG_SORT_LASTUPDATED_DESC;
    if(qq->has_cursor) {
        if(qq->sort == LG_SORT_NONE) {
            add(q, " AND r.seq > "); add_int(q, qq->after_seq);
        } else {
            /* Strictly after (after_key, after_seq) in the sort order. */
            const char *op = desc ? " < " : " > ";
            add(q, " AND (r.last_updated"); add(q, op); add_int(q, qq->after_key);
            add(q, " OR (r.last_updated = "); add_int(q, qq->after_key);
            add(q, " AND r.seq"); add(q, op); add_int(q, qq->after_seq); add(q, "))");
        }
    }
    add(q, qq->sort == LG_SORT_LASTUPDATED_ASC ? " ORDER BY r.last_updated, r.seq"
           : desc                              ? " ORDER BY r.last_updated DESC, r.seq DESC"
                                               : " ORDER BY r.seq");
    add(q, " LIMIT ");
    add_int(q, (int64_t)(qq->count > 0 ? qq->count : 0) + 1);
}

lg_status sq_search(lg_store *base, const lg_query *qq, lg_resource_list *out, int64_t *total,
                    lg_issues *issues)
{
    sq_store *s = sq_conn((sq_store *)base);
    sqlq q = {.now = lg_time_now_ms()};
    sqlite3_stmt *p = NULL;
    lg_status st = LG_OK;
    int rc;
    if(total)
        *total = 0;
    for(size_t i = 0; i < qq->nparams; i++)
        if((st = check_param(&qq->params[i], issues)))
            return st;
    lg_buf_init(&q.sql, SQL_MAX);
    add(&q, out ? "SELECT r.type, r.id, r.version, r.last_updated, r.seq, r.deleted, v.method, "
                  "v.json, v.author, r.creator FROM res r JOIN ver v ON v.seq = r.seq"
                : "SELECT count(*) FROM res r");
    /* Without statistics SQLite prefers walking res_type_seq and probing
     * the idx list, which reads every resource of the type for a one-row
     * identifier search; "+r.type" takes that index away whenever an idx
     * condition can drive the search instead. */
    int driver = -1, best = -1;
    for(size_t i = 0; i < qq->nparams; i++) {
        int sc = drive_score(&qq->params[i]);
        if(sc > best) {
            best = sc;
            driver = (int)i;
        }
    }
    add(&q, " WHERE r.deleted = 0");
    if(qq->type) {
        add(&q, driver >= 0 ? " AND +r.type = " : " AND r.type = ");
        add_text(&q, qq->type);
    }
    if(qq->max_seq > 0) {
        add(&q, " AND r.seq <= "); add_int(&q, qq->max_seq);
    }
    for(size_t i = 0; i < qq->nparams; i++)
        param_cond(&q, qq, &qq->params[i], (int)i == driver);
    if(out)
        order_and_page(&q, qq);
    if((st = q.st)) {
        if(st == LG_ETOOLARGE)
            lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "The search is too large");
        goto out;
    }
    if(q.nb > (size_t)sqlite3_limit(s->db, SQLITE_LIMIT_VARIABLE_NUMBER, -1)) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "The search has too many values (%zu)", q.nb);
        st = LG_EINVAL;
        goto out;
    }
    rc = sqlite3_prepare_v2(s->db, q.sql.data, (int)q.sql.len, &p, NULL);
    if(rc != SQLITE_OK) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL,
                      "The search could not be prepared: %s",
                      sqlite3_errmsg(s->db));
        st = sq_status(rc);
        goto out;
    }
    for(size_t i = 0; i < q.nb; i++) {
        if(q.b[i].is_int)
            sqlite3_bind_int64(p, (int)i + 1, q.b[i].i);
        else
            sqlite3_bind_text(p, (int)i + 1, q.b[i].s, -1, SQLITE_STATIC);
    }
    while((rc = sqlite3_step(p)) == SQLITE_ROW) {
        if(!out) {
            *total = sqlite3_column_int64(p, 0);
            continue;
        }
        lg_resource *r = lg_resource_list_push(out);
        if(!r) {
            st = LG_ENOMEM;
            goto out;
        }
        if((st = sq_fill(p, 2, (const char *)sqlite3_column_text(p, 0),
                         (const char *)sqlite3_column_text(p, 1), r))) {
            out->count--;
            goto out;
        }
    }
    if(rc != SQLITE_DONE)
        st = sq_status(rc);
out:
    sqlite3_finalize(p);
    for(size_t i = 0; i < q.nb; i++)
        free(q.b[i].owned);
    free(q.b);
    lg_buf_free(&q.sql);
    return st;
}
