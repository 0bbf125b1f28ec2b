/* test_xml_narrative.c - the narrative check's allocation-free fast path
 * never accepts a div the libxml2 check would fault: compared on every
 * div of the official R4 examples and the US Core and SDOHCC packages, and
 * on hand-made near misses (each of which must go to the slow path). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_test.h"
#include "xml/internal.h"

/* fast accepts => the parsed check finds nothing at all */
static int consistent(const char *div)
{
    size_t len = strlen(div);
    int fast = lg_xhtml_fast_ok(div, len);
    lg_issues is = {0};
    lg_status st = lg_xhtml_check_parsed(div, len, NULL, &is);
    int ok = !fast || (st == LG_OK && is.count == 0);
    if(!ok)
        fprintf(stderr, "fast path accepted what libxml2 faults (%s): %.200s\n",
                is.count ? is.items[0].diagnostics : "?", div);
    lg_issues_free(&is);
    return ok;
}

static void divs_in(const cJSON *j, int *n, int *fast, int *bad)
{
    if(cJSON_IsObject(j) || cJSON_IsArray(j)) {
        for(const cJSON *c = j->child; c; c = c->next) {
            if(c->string && strcmp(c->string, "div") == 0 && cJSON_IsString(c)) {
                (*n)++;
                *fast += lg_xhtml_fast_ok(c->valuestring, strlen(c->valuestring));
                *bad += !consistent(c->valuestring);
            } else {
                divs_in(c, n, fast, bad);
            }
        }
    }
}

static void sweep(const char *dir, int *n, int *fast, int *bad)
{
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "%s", dir);
    struct dirent *de;
    while((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if(nl < 6 || strcmp(de->d_name + nl - 5, ".json"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cJSON *j = lg_test_read_json(path);
        divs_in(j, n, fast, bad);
        cJSON_Delete(j);
    }
    closedir(dh);
}

Test(xml_narrative, fast_path_agrees_with_libxml2_on_real_divs)
{
    int n = 0, fast = 0, bad = 0;
    sweep(LG_SHARED_DIR "/fhir/r4-examples", &n, &fast, &bad);
    sweep(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.core#7.0.0/package", &n, &fast, &bad);
    sweep(LG_SHARED_DIR "/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package", &n, &fast,
          &bad);
    fprintf(stderr, "narrative: %d divs, %d proved clean by the fast path\n", n, fast);
    cr_expect_gt(n, 500);
    cr_expect_eq(bad, 0);
    cr_expect_gt(fast, n / 2, "the fast path should take most real divs (%d of %d)", fast, n);
}

#define X "<div xmlns=\"http://www.w3.org/1999/xhtml\">"

Test(xml_narrative, near_misses_go_to_the_slow_path)
{
    static const char *const clean[] = {
        X "<p>Ana <b>Rivera</b> &amp; &#160;&#xA0;</p></div>",
        X "<table border=\"1\"><tr><td colspan='2'>x</td></tr></table></div>",
        X "<!-- note - here --><img src=\"#p\" alt=\"\"/></div>",
        X "<a href=\"http://example.org/a?b=1\">l</a> <span xml:lang=\"es\">hola</span></div>",
        X "<p>\xc3\xa9\xe2\x82\xac</p></div>\n",
    };
    for(size_t i = 0; i < sizeof(clean) / sizeof(*clean); i++) {
        cr_expect(lg_xhtml_fast_ok(clean[i], strlen(clean[i])), "fast path refused %s", clean[i]);
        cr_expect(consistent(clean[i]));
    }
    static const char *const unsure[] = {
        X "<script>x</script></div>",
        X "<p onclick=\"x\">y</p></div>",
        X "<p ONLOAD=\"x\">y</p></div>",
        X "<img src=\"http://e/x\"/></div>",
        X "<img src=\"  http://e/x\"/></div>",
        X "<img src=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:x\"/></div>",
        X "<img src=\"&#104;ttp://e/x\"/></div>",
        X "<a href=\"   javascript:x\">y</a></div>",
        X "<a href=\"java&#115;cript:x\">y</a></div>",
        X "<p style=\"background:URL(x)\">y</p></div>",
        X "<p>x</b></div>",
        X "<p>x</div>",
        X "<p a=\"1\" a=\"2\">x</p></div>",
        X "x &nbsp; y</div>",
        X "x &#0; y</div>",
        X "x ]]> y</div>",
        X "x \x01 y</div>",
        X "x \xff y</div>",
        X "x \xef\xbf\xbe y</div>",
        X "<!-- a -- b -->x</div>",
        X "<![CDATA[x]]></div>",
        X "<?pi x?>x</div>",
        X "<h:p xmlns:h=\"http://www.w3.org/1999/xhtml\">x</h:p></div>",
        X "<p xmlns=\"http://other\">x</p></div>",
        X "<p x:y=\"1\">x</p></div>",
        X "<iframe>x</iframe></div>",
        X "   </div>",
        X "x</div><p>after</p>",
        X "x</div>trailing",
        "<div>no namespace</div>",
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"",
        " " X "x</div>",
        X "<p title=\"a<b\">x</p></div>",
        X "<p title=\"a\"title=\"b\">x</p></div>",
        X "<form>x</form></div>",
    };
    for(size_t i = 0; i < sizeof(unsure) / sizeof(*unsure); i++) {
        cr_expect(!lg_xhtml_fast_ok(unsure[i], strlen(unsure[i])), "fast path accepted %s",
                  unsure[i]);
        cr_expect(consistent(unsure[i]));
    }
}

/* The plain-text loop reads eight bytes at a time: a byte it must stop at
 * ('<' of markup aside: ']]>', a control character, '&' of a bad reference,
 * non-ASCII) is found at every offset of the word, and good non-ASCII text
 * still passes. */
Test(xml_narrative, word_at_a_time_text_scan_stops_at_every_offset)
{
    static const char *const bad[] = {"]]>", "\x01", "&bogus;", "\xff"};
    static const char *const good[] = {"\xc3\xa9", "&amp;", "]", "x"};
    for(int k = 0; k < 24; k++) {
        char pad[32];
        memset(pad, 'a', (size_t)k);
        pad[k] = '\0';
        for(size_t b = 0; b < sizeof(bad) / sizeof(*bad); b++) {
            char div[256];
            snprintf(div, sizeof(div),
                     "<div xmlns=\"http://www.w3.org/1999/xhtml\">%s%s and then some more text</div>",
                     pad, bad[b]);
            cr_assert_eq(lg_xhtml_fast_ok(div, strlen(div)), 0, "offset %d: %s", k, div);
        }
        for(size_t g = 0; g < sizeof(good) / sizeof(*good); g++) {
            char div[256];
            snprintf(div, sizeof(div),
                     "<div xmlns=\"http://www.w3.org/1999/xhtml\">%s%s and then some more text</div>",
                     pad, good[g]);
            cr_assert_eq(lg_xhtml_fast_ok(div, strlen(div)), 1, "offset %d: %s", k, div);
        }
    }
}
