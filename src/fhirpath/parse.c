/* parse.c - FHIRPath lexer and precedence-climbing parser.
 *
 * Precedence, loosest first (FHIRPath N1 §6 / grammar): implies; or xor;
 * and; in contains; = ~ != !~; < > <= >=; |; is as; + - &; * / div mod;
 * unary -; then the postfix . and []. The parser bounds expression length
 * and nesting so a hostile expression cannot exhaust the stack.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "temporal.h"

#define FP_MAX_SRC (64 * 1024)
#define FP_MAX_DEPTH 200      /* nesting: parentheses, arguments, indexers, unary */
#define FP_MAX_AST_DEPTH 1000 /* also long left-deep chains (a.b.c..., 1+1+...) */
#define FP_MAX_ARGS 16

typedef enum tok_kind {
    T_EOF, T_IDENT, T_STRING, T_NUMBER, T_DATE, T_VAR, T_ENV, T_OP, T_LPAREN, T_RPAREN,
    T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE, T_DOT, T_COMMA
} tok_kind;

typedef struct parser {
    const char *src, *p;
    tok_kind t;
    char *text;     /* current token text (owned) */
    size_t tpos;    /* offset of the current token */
    int depth;
    const char *err;
    size_t errpos;
} parser;

static void fail(parser *ps, const char *msg)
{
    if(!ps->err) {
        ps->err = msg;
        ps->errpos = ps->tpos;
    }
}

static char *dupn(const char *s, size_t n)
{
    char *r = malloc(n + 1);
    if(r) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

/* Decode a quoted string or backtick identifier body with FHIRPath escapes. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if(!out)
        return NULL;
    for(size_t i = 0; i < n; i++) {
        if(s[i] != '\\' || i + 1 == n) {
            *o++ = s[i];
            continue;
        }
        char c = s[++i];
        switch(c) {
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'f': *o++ = '\f'; break;
        case 'u':
            if(i + 4 < n) {
                unsigned cp = 0;
                int ok = 1;
                for(int k = 1; k <= 4; k++) {
                    if(i + (size_t)k >= n || !isxdigit((unsigned char)s[i + k])) {
                        ok = 0;
                        break;
                    }
                    char h = s[i + k];
                    cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0'
                                              : (tolower((unsigned char)h) - 'a' + 10));
                }
                if(ok) {
                    i += 4;
                    if(cp < 0x80) {
                        *o++ = (char)cp;
                    } else if(cp < 0x800) {
                        *o++ = (char)(0xC0 | (cp >> 6));
                        *o++ = (char)(0x80 | (cp & 0x3F));
                    } else {
                        *o++ = (char)(0xE0 | (cp >> 12));
                        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                        *o++ = (char)(0x80 | (cp & 0x3F));
                    }
                    break;
                }
            }
            *o++ = 'u';
            break;
        default: *o++ = c; break; /* \' \" \` \\ \/ */
        }
    }
    *o = '\0';
    return out;
}

static void next(parser *ps)
{
    free(ps->text);
    ps->text = NULL;
    while(*ps->p) {
        if(isspace((unsigned char)*ps->p)) {
            ps->p++;
        } else if(ps->p[0] == '/' && ps->p[1] == '/') {
            while(*ps->p && *ps->p != '\n')
                ps->p++;
        } else if(ps->p[0] == '/' && ps->p[1] == '*') {
            const char *e = strstr(ps->p + 2, "*/");
            if(!e) {
                ps->tpos = (size_t)(ps->p - ps->src);
                fail(ps, "unterminated comment");
                ps->t = T_EOF;
                return;
            }
            ps->p = e + 2;
        } else {
            break;
        }
    }
    const char *s = ps->p;
    ps->tpos = (size_t)(s - ps->src);
    if(!*s) {
        ps->t = T_EOF;
        return;
    }
    if(isalpha((unsigned char)*s) || *s == '_') {
        while(isalnum((unsigned char)*ps->p) || *ps->p == '_')
            ps->p++;
        ps->t = T_IDENT;
        ps->text = dupn(s, (size_t)(ps->p - s));
        return;
    }
    if(*s == '`' || *s == '\'') {
        char q = *s;
        const char *e = s + 1;
        while(*e && *e != q) {
            if(*e == '\\' && e[1])
                e++;
            e++;
        }
        if(!*e) {
            fail(ps, "unterminated string or identifier");
            ps->t = T_EOF;
            return;
        }
        ps->text = unescape(s + 1, (size_t)(e - s - 1));
        ps->t = q == '`' ? T_IDENT : T_STRING;
        ps->p = e + 1;
        return;
    }
    if(isdigit((unsigned char)*s)) {
        while(isdigit((unsigned char)*ps->p))
            ps->p++;
        if(ps->p[0] == '.' && isdigit((unsigned char)ps->p[1])) {
            ps->p++;
            while(isdigit((unsigned char)*ps->p))
                ps->p++;
        }
        ps->t = T_NUMBER;
        ps->text = dupn(s, (size_t)(ps->p - s));
        return;
    }
    if(*s == '@') {
        /* @YYYY(-MM(-DD)?)?(T(hh(:mm(:ss(.fff)?)?)?(Z|[+-]hh:mm)?)?)? or @Thh...:
         * scanned by shape so that "@2015.is(Date)" stops before the '.',
         * and "@2015-02-04 - 1 day" before the operator. */
        const char *q = s + 1;
        if(*q != 'T') {
            while(isdigit((unsigned char)*q))
                q++;
            for(int k = 0; k < 2 && q[0] == '-' && isdigit((unsigned char)q[1]); k++)
                for(q++; isdigit((unsigned char)*q);)
                    q++;
        }
        if(*q == 'T') {
            q++;
            while(isdigit((unsigned char)*q) || (*q == ':' && isdigit((unsigned char)q[1])))
                q++;
            if(q[0] == '.' && isdigit((unsigned char)q[1]))
                for(q++; isdigit((unsigned char)*q);)
                    q++;
            if(*q == 'Z')
                q++;
            else if((*q == '+' || *q == '-') && isdigit((unsigned char)q[1]) &&
                    isdigit((unsigned char)q[2]) && q[3] == ':' && isdigit((unsigned char)q[4]) &&
                    isdigit((unsigned char)q[5]))
                q += 6;
        }
        ps->p = q;
        ps->t = T_DATE;
        ps->text = dupn(s + 1, (size_t)(ps->p - s - 1));
        return;
    }
    if(*s == '$') {
        ps->p++;
        while(isalnum((unsigned char)*ps->p) || *ps->p == '_')
            ps->p++;
        ps->t = T_VAR;
        ps->text = dupn(s + 1, (size_t)(ps->p - s - 1));
        return;
    }
    if(*s == '%') {
        ps->p++;
        if(*ps->p == '`' || *ps->p == '\'' || *ps->p == '"') {
            char q = *ps->p;
            const char *e = strchr(ps->p + 1, q);
            if(!e) {
                fail(ps, "unterminated environment variable");
                ps->t = T_EOF;
                return;
            }
            ps->text = dupn(ps->p + 1, (size_t)(e - ps->p - 1));
            ps->p = e + 1;
        } else {
            while(isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '-')
                ps->p++;
            ps->text = dupn(s + 1, (size_t)(ps->p - s - 1));
        }
        ps->t = T_ENV;
        return;
    }
    ps->p++;
    switch(*s) {
    case '(': ps->t = T_LPAREN; return;
    case ')': ps->t = T_RPAREN; return;
    case '[': ps->t = T_LBRACK; return;
    case ']': ps->t = T_RBRACK; return;
    case '{': ps->t = T_LBRACE; return;
    case '}': ps->t = T_RBRACE; return;
    case '.': ps->t = T_DOT; return;
    case ',': ps->t = T_COMMA; return;
    case '<': case '>': case '!':
        if(*ps->p == '=' || (*s == '!' && *ps->p == '~'))
            ps->p++;
        else if(*s == '!') {
            fail(ps, "unexpected '!'");
            ps->t = T_EOF;
            return;
        }
        break;
    case '=': case '~': case '+': case '-': case '*': case '/': case '&': case '|': break;
    default:
        fail(ps, "unexpected character");
        ps->t = T_EOF;
        return;
    }
    ps->t = T_OP;
    ps->text = dupn(s, (size_t)(ps->p - s));
}

static fp_node *node(fp_node_kind k, char *str, fp_node *a, fp_node *b)
{
    fp_node *n = calloc(1, sizeof(*n));
    if(!n) {
        free(str);
        fp_node_free(a);
        fp_node_free(b);
        return NULL;
    }
    n->kind = k;
    n->str = str;
    n->a = a;
    n->b = b;
    return n;
}

void fp_node_free(fp_node *n)
{
    if(!n)
        return;
    fp_node_free(n->a);
    fp_node_free(n->b);
    for(int i = 0; i < n->nargs; i++)
        fp_node_free(n->args[i]);
    free(n->args);
    free(n->str);
    free(n);
}

static fp_node *parse_expr(parser *ps, int level);

/* Depth of the tree; stops counting past the limit, so it is cheap and its
 * own recursion is bounded by what the parser could build. */
static int ast_depth(const fp_node *n, int d)
{
    if(!n || d > FP_MAX_AST_DEPTH)
        return d;
    int m = d + 1, x;
    if((x = ast_depth(n->a, d + 1)) > m) m = x;
    if((x = ast_depth(n->b, d + 1)) > m) m = x;
    for(int i = 0; i < n->nargs; i++)
        if((x = ast_depth(n->args[i], d + 1)) > m) m = x;
    return m;
}

static int is_word(parser *ps, const char *w)
{
    return ps->t == T_IDENT && ps->text && strcmp(ps->text, w) == 0;
}

static int is_op(parser *ps, const char *w)
{
    return ps->t == T_OP && ps->text && strcmp(ps->text, w) == 0;
}

/* Type specifier: Ident ('.' Ident)?  e.g. FHIR.Patient, System.String */
static char *type_spec(parser *ps)
{
    if(ps->t != T_IDENT) {
        fail(ps, "expected a type name");
        return NULL;
    }
    char *name = ps->text;
    ps->text = NULL;
    next(ps);
    if(ps->t == T_DOT && (!strcmp(name, "FHIR") || !strcmp(name, "System"))) {
        next(ps);
        if(ps->t != T_IDENT) {
            free(name);
            fail(ps, "expected a type name after namespace");
            return NULL;
        }
        /* keep the namespace: System.Boolean is not FHIR.boolean */
        char *full = NULL;
        if(asprintf(&full, "%s.%s", name, ps->text) < 0)
            full = NULL;
        free(name);
        name = full;
        if(!name) {
            fail(ps, "out of memory");
            return NULL;
        }
        next(ps);
    }
    return name;
}

/* Function call arguments after '(' has been consumed. */
static int parse_args(parser *ps, fp_node *call)
{
    if(ps->t == T_RPAREN) {
        next(ps);
        return 0;
    }
    call->args = calloc(FP_MAX_ARGS, sizeof(*call->args));
    if(!call->args)
        return -1;
    for(;;) {
        if(call->nargs == FP_MAX_ARGS) {
            fail(ps, "too many function arguments");
            return -1;
        }
        fp_node *arg = parse_expr(ps, 0);
        if(!arg)
            return -1;
        call->args[call->nargs++] = arg;
        if(ps->t == T_COMMA) {
            next(ps);
            continue;
        }
        if(ps->t != T_RPAREN) {
            fail(ps, "expected ',' or ')' in function arguments");
            return -1;
        }
        next(ps);
        return 0;
    }
}

static fp_node *parse_term(parser *ps)
{
    fp_node *n = NULL;
    switch(ps->t) {
    case T_LPAREN:
        next(ps);
        n = parse_expr(ps, 0);
        if(!n)
            return NULL;
        if(ps->t != T_RPAREN) {
            fail(ps, "expected ')'");
            fp_node_free(n);
            return NULL;
        }
        next(ps);
        return n;
    case T_LBRACE:
        next(ps);
        if(ps->t != T_RBRACE) {
            fail(ps, "expected '}' (only {} is a valid literal)");
            return NULL;
        }
        next(ps);
        return node(FP_EMPTY, NULL, NULL, NULL);
    case T_STRING:
        n = node(FP_STRING, ps->text, NULL, NULL);
        ps->text = NULL;
        next(ps);
        return n;
    case T_DATE: {
        fp_time t;
        if(fp_time_parse(ps->text, -1, &t)) {
            fail(ps, "invalid date/time literal");
            return NULL;
        }
        n = node(FP_DATE, ps->text, NULL, NULL);
        ps->text = NULL;
        next(ps);
        return n;
    }
    case T_NUMBER: {
        const char *t = ps->text;
        int dec = strchr(t, '.') != NULL;
        n = node(dec ? FP_DECIMAL : FP_INT, NULL, NULL, NULL);
        if(!n)
            return NULL;
        if(dec) {
            n->d = strtod(t, NULL);
            n->i = 1 + (int64_t)strlen(strchr(t, '.') + 1); /* 1 + scale, for toString() and ~ */
        } else
            n->i = strtoll(t, NULL, 10);
        next(ps);
        /* A quantity: number followed by a unit string or a calendar word. */
        if(ps->t == T_STRING || (ps->t == T_IDENT && fp_calendar_word(ps->text))) {
            n->d = dec ? n->d : (double)n->i;
            n->i = dec ? n->i : 1; /* 1 + scale */
            n->kind = FP_QUANTITY;
            n->str = ps->text;
            ps->text = NULL;
            next(ps);
        }
        return n;
    }
    case T_VAR:
        n = node(FP_VAR, ps->text, NULL, NULL);
        ps->text = NULL;
        next(ps);
        return n;
    case T_ENV:
        n = node(FP_VAR, NULL, NULL, NULL);
        if(n && asprintf(&n->str, "%%%s", ps->text) < 0)
            n->str = NULL;
        next(ps);
        return n;
    case T_IDENT: {
        if(is_word(ps, "true") || is_word(ps, "false")) {
            n = node(FP_BOOL, NULL, NULL, NULL);
            if(n)
                n->i = ps->text[0] == 't';
            next(ps);
            return n;
        }
        char *name = ps->text;
        ps->text = NULL;
        next(ps);
        if(ps->t == T_LPAREN) {
            next(ps);
            n = node(FP_CALL, name, NULL, NULL);
            if(!n || parse_args(ps, n)) {
                fp_node_free(n);
                return NULL;
            }
            return n;
        }
        return node(FP_IDENT, name, NULL, NULL);
    }
    default:
        fail(ps, ps->t == T_EOF ? "unexpected end of expression" : "unexpected token");
        return NULL;
    }
}

static fp_node *parse_postfix(parser *ps)
{
    fp_node *n = parse_term(ps);
    while(n && !ps->err) {
        if(ps->t == T_DOT) {
            next(ps);
            if(ps->t != T_IDENT) {
                fail(ps, "expected a name after '.'");
                fp_node_free(n);
                return NULL;
            }
            char *name = ps->text;
            ps->text = NULL;
            next(ps);
            if(ps->t == T_LPAREN) {
                next(ps);
                fp_node *call = node(FP_CALL, name, n, NULL);
                if(!call || parse_args(ps, call)) {
                    fp_node_free(call);
                    return NULL;
                }
                n = call;
            } else {
                n = node(FP_MEMBER, name, n, NULL);
            }
        } else if(ps->t == T_LBRACK) {
            next(ps);
            fp_node *idx = parse_expr(ps, 0);
            if(!idx || ps->t != T_RBRACK) {
                fail(ps, "expected ']'");
                fp_node_free(idx);
                fp_node_free(n);
                return NULL;
            }
            next(ps);
            n = node(FP_INDEX, NULL, n, idx);
        } else {
            break;
        }
    }
    return n;
}

static fp_node *parse_unary(parser *ps)
{
    if(is_op(ps, "-") || is_op(ps, "+")) {
        int neg = ps->text[0] == '-';
        if(++ps->depth > FP_MAX_DEPTH) {
            fail(ps, "expression nested too deeply");
            return NULL;
        }
        next(ps);
        fp_node *a = parse_unary(ps);
        ps->depth--;
        if(!a)
            return NULL;
        return neg ? node(FP_NEG, NULL, a, NULL) : a;
    }
    return parse_postfix(ps);
}

/* Operators per level (0 loosest). Word operators are identifiers. */
static const char *const levels[][5] = {
    {"implies"}, {"or", "xor"}, {"and"}, {"in", "contains"}, {"=", "~", "!=", "!~"},
    {"<", ">", "<=", ">="}, {"|"}, {"is", "as"}, {"+", "-", "&"}, {"*", "/", "div", "mod"},
};
#define NLEVELS ((int)(sizeof(levels) / sizeof(*levels)))

static const char *match_level(parser *ps, int level)
{
    for(int k = 0; k < 5 && levels[level][k]; k++) {
        const char *w = levels[level][k];
        if(isalpha((unsigned char)w[0]) ? is_word(ps, w) : is_op(ps, w))
            return w;
    }
    return NULL;
}

static fp_node *parse_expr(parser *ps, int level)
{
    if(level == NLEVELS)
        return parse_unary(ps);
    /* count nesting once per sub-expression, not per precedence level */
    if(level == 0 && ++ps->depth > FP_MAX_DEPTH) {
        fail(ps, "expression nested too deeply");
        ps->depth--;
        return NULL;
    }
    fp_node *l = parse_expr(ps, level + 1);
    const char *op;
    while(l && !ps->err && (op = match_level(ps, level))) {
        next(ps);
        if(strcmp(op, "is") == 0 || strcmp(op, "as") == 0) {
            char *t = type_spec(ps);
            if(!t) {
                fp_node_free(l);
                l = NULL;
                break;
            }
            l = node(op[0] == 'i' ? FP_IS : FP_AS, t, l, NULL);
            continue;
        }
        fp_node *r = parse_expr(ps, level + 1);
        if(!r) {
            fp_node_free(l);
            l = NULL;
            break;
        }
        l = node(FP_BINARY, strdup(op), l, r);
    }
    if(level == 0)
        ps->depth--;
    if(ps->err) {
        fp_node_free(l);
        return NULL;
    }
    return l;
}

static const char *const fn_names[] = {
    "",
#define FP_FN_NAME(n) #n,
    FP_FUNCTIONS(FP_FN_NAME)
#undef FP_FN_NAME
};

static const char *const op_names[] = {
    "", "implies", "or", "xor", "and", "in", "contains", "=", "~", "!=", "!~", "<", ">", "<=",
    ">=", "|", "+", "-", "&", "*", "/", "div", "mod",
};

static const char *const var_names[] = {
    "", "this", "total", "index", "%context", "%resource", "%rootResource", "%ucum", "%sct",
    "%loinc",
};

static int name_id(const char *const *names, size_t n, const char *s)
{
    for(size_t i = 1; s && i < n; i++)
        if(!strcmp(names[i], s))
            return (int)i;
    return 0;
}

/* Resolve names to ids over the whole tree (see fp_node.id). */
static void resolve_ids(fp_node *n)
{
    if(!n)
        return;
    if(n->kind == FP_CALL)
        n->id = name_id(fn_names, sizeof(fn_names) / sizeof(*fn_names), n->str);
    else if(n->kind == FP_BINARY)
        n->id = name_id(op_names, sizeof(op_names) / sizeof(*op_names), n->str);
    else if(n->kind == FP_VAR)
        n->id = name_id(var_names, sizeof(var_names) / sizeof(*var_names), n->str);
    resolve_ids(n->a);
    resolve_ids(n->b);
    for(int i = 0; i < n->nargs; i++)
        resolve_ids(n->args[i]);
}

lg_status lg_fhirpath_compile(const char *src, lg_fhirpath **out, lg_issues *issues)
{
    *out = NULL;
    if(!src || strlen(src) > FP_MAX_SRC) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL,
                      "FHIRPath expression missing or longer than %d bytes", FP_MAX_SRC);
        return LG_EINVAL;
    }
    parser ps = {.src = src, .p = src};
    next(&ps);
    fp_node *root = ps.err ? NULL : parse_expr(&ps, 0);
    if(root && !ps.err && ps.t != T_EOF)
        fail(&ps, "unexpected trailing input");
    if(root && !ps.err && ast_depth(root, 0) > FP_MAX_AST_DEPTH) {
        ps.tpos = 0;
        fail(&ps, "expression too deep (more than 1000 levels)");
    }
    free(ps.text);
    if(!root || ps.err) {
        fp_node_free(root);
        /* the position three ways: offset for tools, line and column for
         * people, and a short excerpt rather than a 64 KiB expression */
        size_t line = 1, col = 1;
        for(size_t i = 0; i < ps.errpos && src[i]; i++) {
            if(src[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        lg_issues_add(issues, LG_SEV_ERROR, "invalid", NULL,
                      "FHIRPath syntax error at offset %zu (line %zu, column %zu): %s near '%.40s'",
                      ps.errpos, line, col, ps.err ? ps.err : "out of memory", src + ps.errpos);
        return LG_EINVAL;
    }
    lg_fhirpath *e = calloc(1, sizeof(*e));
    if(!e || !(e->src = strdup(src))) {
        free(e);
        fp_node_free(root);
        return LG_ENOMEM;
    }
    resolve_ids(root);
    e->nmemo = fp_analyse(root);
    e->root = root;
    *out = e;
    return LG_OK;
}

void lg_fhirpath_free(lg_fhirpath *e)
{
    if(!e)
        return;
    fp_node_free(e->root);
    free(e->src);
    free(e);
}

const char *lg_fhirpath_source(const lg_fhirpath *e)
{
    return e->src;
}
