/* locate.c - line and column of an element in the JSON text it came from.
 *
 * cJSON trees carry no positions, and keeping them for every node would
 * cost memory on every request. Issues are rare, so instead each issue's
 * FHIRPath location ("Patient.name[0].given[1]") is looked up afterwards by
 * scanning the original text once along that path. The scan only skips
 * over values (no tree, no allocation), is iterative (no recursion depth to
 * exhaust), and gives up on malformed text.
 */
#include <stdlib.h>
#include <string.h>

#include "loopgate/json.h"

typedef struct scan {
    const char *p, *end;
    int line, col;
} scan;

static void adv(scan *s)
{
    if(*s->p == '\n') {
        s->line++;
        s->col = 1;
    } else if(((unsigned char)*s->p & 0xC0) != 0x80) { /* count characters, not bytes */
        s->col++;
    }
    s->p++;
}

static void ws(scan *s)
{
    while(s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        adv(s);
}

/* Past a string starting at '"'; 0 on malformed text. */
static int skip_string(scan *s)
{
    adv(s);
    while(s->p < s->end && *s->p != '"') {
        if(*s->p == '\\') {
            adv(s);
            if(s->p >= s->end)
                return 0;
        }
        adv(s);
    }
    if(s->p >= s->end)
        return 0;
    adv(s);
    return 1;
}

/* Past one value of any kind; 0 on malformed text. */
static int skip_value(scan *s)
{
    ws(s);
    if(s->p >= s->end)
        return 0;
    if(*s->p == '"')
        return skip_string(s);
    if(*s->p != '{' && *s->p != '[') {
        while(s->p < s->end && !strchr(",]} \t\r\n", *s->p))
            adv(s);
        return 1;
    }
    size_t depth = 0;
    while(s->p < s->end) {
        char c = *s->p;
        if(c == '"') {
            if(!skip_string(s))
                return 0;
            continue;
        }
        if(c == '{' || c == '[')
            depth++;
        else if((c == '}' || c == ']') && --depth == 0) {
            adv(s);
            return 1;
        }
        adv(s);
    }
    return 0;
}

/* Does the JSON string at s->p (at '"') equal name[0..n)? Moves past it.
 * Keys in FHIR are plain ASCII, so an escaped key never matches. */
static int key_is(scan *s, const char *name, size_t n, int *ok)
{
    const char *start = s->p + 1;
    *ok = skip_string(s);
    return *ok && (size_t)(s->p - 1 - start) == n && memcmp(start, name, n) == 0;
}

/* In the object at s->p, move to the value of member name. 1 found
 * (s at the key), 0 absent (s unchanged), -1 malformed. */
static int find_member(scan *s, const char *name, size_t n)
{
    scan o = *s;
    adv(&o); /* '{' */
    for(;;) {
        ws(&o);
        if(o.p >= o.end)
            return -1;
        if(*o.p == '}')
            return 0;
        if(*o.p != '"')
            return -1;
        scan key = o;
        int ok;
        int match = key_is(&o, name, n, &ok);
        if(!ok)
            return -1;
        ws(&o);
        if(o.p >= o.end || *o.p != ':')
            return -1;
        adv(&o);
        ws(&o);
        if(match) {
            *s = key;
            return 1;
        }
        if(!skip_value(&o))
            return -1;
        ws(&o);
        if(o.p < o.end && *o.p == ',')
            adv(&o);
    }
}

/* From a member's key, to the start of its value. */
static void to_value(scan *s)
{
    skip_string(s);
    ws(s);
    adv(s); /* ':' */
    ws(s);
}

/* In the array at s->p, move to item i. 1 found, 0 absent, -1 malformed. */
static int find_item(scan *s, long i)
{
    scan a = *s;
    adv(&a); /* '[' */
    for(long k = 0;; k++) {
        ws(&a);
        if(a.p >= a.end)
            return -1;
        if(*a.p == ']')
            return 0;
        if(k == i) {
            *s = a;
            return 1;
        }
        if(!skip_value(&a))
            return -1;
        ws(&a);
        if(a.p < a.end && *a.p == ',')
            adv(&a);
    }
}

int lg_json_locate(const char *text, size_t len, const char *location, int *line, int *col)
{
    scan s = {text, text + len, 1, 1};
    *line = *col = 0;
    if(!text || !location)
        return -1;
    ws(&s);
    if(s.p >= s.end || *s.p != '{')
        return -1;
    *line = s.line;
    *col = s.col;
    /* The first segment names the root resource type; the text's root is it. */
    const char *p = location + strcspn(location, ".[");
    int exact = 1;
    while(*p) {
        if(*p == '.') {
            p++;
            size_t n = strcspn(p, ".[(");
            if(p[n] == '(' || s.p >= s.end || *s.p != '{') {
                exact = 0; /* a function (extension('url')) or not an object: stop here */
                break;
            }
            int r = find_member(&s, p, n);
            if(r < 0)
                return -1;
            if(r == 0) {
                exact = 0;
                break;
            }
            *line = s.line;
            *col = s.col;
            to_value(&s);
            p += n;
        } else if(*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            if(end == p + 1 || *end != ']' || i < 0 || s.p >= s.end || *s.p != '[') {
                exact = 0;
                break;
            }
            int r = find_item(&s, i);
            if(r < 0)
                return -1;
            if(r == 0) {
                exact = 0;
                break;
            }
            *line = s.line;
            *col = s.col;
            p = end + 1;
        } else {
            exact = 0;
            break;
        }
    }
    return exact;
}

void lg_issues_locate(lg_issues *issues, size_t from, const char *text, size_t len)
{
    for(size_t i = from; issues && i < issues->count; i++) {
        lg_issue *it = &issues->items[i];
        int l, c;
        if(it->location && !it->line && lg_json_locate(text, len, it->location, &l, &c) >= 0) {
            it->line = l;
            it->col = c;
        }
    }
}
