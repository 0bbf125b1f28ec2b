/* file.c - whole-file reads for the definition and package loaders
 * (file.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopgate/file.h"

lg_status lg_file_read(const char *path, size_t max, char **out, size_t *len, lg_issues *issues)
{
    char *buf = NULL;
    long sz;
    lg_status st = LG_EIO;
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if(!f) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Cannot open %s: %s", path,
                      strerror(errno));
        return LG_EIO;
    }
    if(fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Cannot size %s", path);
        goto fail;
    }
    if((unsigned long)sz > max) {
        lg_issues_add(issues, LG_SEV_ERROR, "too-costly", NULL, "%s is larger than %zu bytes",
                      path, max);
        st = LG_ETOOLARGE;
        goto fail;
    }
    if(!(buf = malloc((size_t)sz + 1))) {
        st = LG_ENOMEM;
        goto fail;
    }
    if(fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        lg_issues_add(issues, LG_SEV_ERROR, "exception", NULL, "Cannot read %s", path);
        goto fail;
    }
    buf[sz] = '\0';
    *out = buf;
    *len = (size_t)sz;
    buf = NULL;
    st = LG_OK;
fail:
    free(buf);
    fclose(f);
    return st;
}
