/* analyse.c - compile-time analysis of FHIRPath trees: which
 * subexpressions are constant within one evaluation, and which of those to
 * memoise.
 *
 * Invariants evaluate the same subexpression many times: dom-3 computes
 * %resource.descendants() four times, and once more for every contained
 * resource, since it sits inside contained.where(...). A subexpression
 * that depends on no focus, $this, $index or $total has one value per
 * evaluation, so it is computed once and copied after that. Slots go to
 * constant subexpressions that repeat in the tree (shared by structure) and
 * to the largest constant ones inside an iteration's argument; everything
 * else is evaluated as before, since keeping a value costs a copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

#define FP_MAX_KEY 2048 /* longer subexpressions are not shared */
#define FP_MAX_MEMO 64

/* Functions whose arguments are evaluated per input item (with $this
 * bound), so focus-relative arguments do not make the call depend on the
 * outer focus. */
static int iterates(int fn)
{
    return fn == FN_where || fn == FN_select || fn == FN_all || fn == FN_exists ||
           fn == FN_repeat || fn == FN_sort || fn == FN_iif;
}

/* Functions whose argument is a type name, not an expression. */
static int type_arg(int fn)
{
    return fn == FN_is || fn == FN_as || fn == FN_ofType;
}

static int mark_const(fp_node *n)
{
    if(!n)
        return 1;
    int c = 0;
    switch(n->kind) {
    case FP_EMPTY: case FP_STRING: case FP_INT: case FP_DECIMAL: case FP_BOOL: case FP_DATE:
    case FP_QUANTITY:
        c = 1;
        break;
    case FP_VAR:
        /* %resource, %context, %ucum, %"vs-x", the caller's %vars */
        c = n->id != VAR_THIS && n->id != VAR_INDEX && n->id != VAR_TOTAL && n->str &&
            n->str[0] == '%';
        break;
    case FP_IDENT:
        c = 0; /* a member of the focus */
        mark_const(n->a);
        break;
    case FP_MEMBER: case FP_NEG: case FP_IS: case FP_AS:
        c = mark_const(n->a);
        break;
    case FP_INDEX: case FP_BINARY: {
        int ca = mark_const(n->a), cb = mark_const(n->b);
        c = ca && cb;
        break;
    }
    case FP_CALL: {
        c = n->a && mark_const(n->a);
        int args = 1;
        for(int i = 0; i < n->nargs; i++)
            args &= mark_const(n->args[i]);
        /* time functions give one answer per evaluation too, but cheaply */
        if(!iterates(n->id) && !type_arg(n->id) && !args)
            c = 0;
        if(n->id == FN_UNKNOWN)
            c = 0;
        break;
    }
    }
    n->is_const = c;
    return c;
}

static int is_leaf(const fp_node *n)
{
    return n->kind == FP_EMPTY || n->kind == FP_STRING || n->kind == FP_INT ||
           n->kind == FP_DECIMAL || n->kind == FP_BOOL || n->kind == FP_DATE ||
           n->kind == FP_QUANTITY || n->kind == FP_VAR || n->kind == FP_IDENT;
}

typedef struct keybuf {
    char buf[FP_MAX_KEY];
    size_t len;
    int full;
} keybuf;

static void kb_put(keybuf *k, const char *s)
{
    size_t n = strlen(s);
    if(k->full || k->len + n + 1 > sizeof(k->buf)) {
        k->full = 1;
        return;
    }
    memcpy(k->buf + k->len, s, n + 1);
    k->len += n;
}

/* A canonical text of the subtree: equal texts, equal values. */
static void key_of(const fp_node *n, keybuf *k)
{
    char tmp[64];
    if(!n) {
        kb_put(k, "_");
        return;
    }
    snprintf(tmp, sizeof(tmp), "(%d:%d:%lld:%.17g:", (int)n->kind, n->id, (long long)n->i, n->d);
    kb_put(k, tmp);
    if(n->str) {
        /* length first, so no string can imitate structure */
        snprintf(tmp, sizeof(tmp), "%zu:", strlen(n->str));
        kb_put(k, tmp);
        kb_put(k, n->str);
    }
    kb_put(k, ";");
    key_of(n->a, k);
    key_of(n->b, k);
    for(int i = 0; i < n->nargs; i++)
        key_of(n->args[i], k);
    kb_put(k, ")");
}

typedef struct cand {
    fp_node *n;
    char *key;
    int uses;
    int in_iter; /* a largest constant subtree inside an iteration argument */
} cand;

typedef struct cands {
    cand *v;
    size_t count, cap;
} cands;

static void collect(fp_node *n, int in_iter, int parent_const, cands *cs)
{
    if(!n)
        return;
    if(n->is_const && !is_leaf(n) && cs->count < 4096) {
        keybuf *k = malloc(sizeof(*k));
        if(k) {
            k->len = 0;
            k->full = 0;
            k->buf[0] = '\0';
            key_of(n, k);
            if(!k->full) {
                if(cs->count == cs->cap) {
                    size_t nc = cs->cap ? cs->cap * 2 : 16;
                    cand *v = realloc(cs->v, nc * sizeof(*v));
                    if(!v) {
                        free(k);
                        return;
                    }
                    cs->v = v;
                    cs->cap = nc;
                }
                cs->v[cs->count++] = (cand){.n = n, .key = strdup(k->buf), .in_iter = in_iter && !parent_const};
            }
            free(k);
        }
    }
    collect(n->a, in_iter, n->is_const, cs);
    collect(n->b, in_iter, n->is_const, cs);
    for(int i = 0; i < n->nargs; i++)
        collect(n->args[i], in_iter || (n->kind == FP_CALL && iterates(n->id)), n->is_const, cs);
}

int fp_analyse(fp_node *root)
{
    mark_const(root);
    cands cs = {0};
    collect(root, 0, 0, &cs);
    int nslots = 0;
    for(size_t i = 0; i < cs.count; i++) {
        cand *c = &cs.v[i];
        if(!c->key)
            continue;
        int uses = 0;
        for(size_t k = 0; k < cs.count; k++)
            uses += cs.v[k].key && !strcmp(cs.v[k].key, c->key);
        if(uses < 2 && !c->in_iter)
            continue;
        /* the slot of an equal subtree seen before, else a new one */
        int slot = 0;
        for(size_t k = 0; k < i && !slot; k++)
            if(cs.v[k].n->memo && cs.v[k].key && !strcmp(cs.v[k].key, c->key))
                slot = cs.v[k].n->memo;
        if(!slot && nslots < FP_MAX_MEMO)
            slot = ++nslots;
        c->n->memo = slot;
    }
    for(size_t i = 0; i < cs.count; i++)
        free(cs.v[i].key);
    free(cs.v);
    return nslots;
}
