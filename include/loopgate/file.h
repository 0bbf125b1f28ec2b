/* file.h - reading a whole file into memory, bounded. */
#ifndef LOOPGATE_FILE_H
#define LOOPGATE_FILE_H

#include <stddef.h>

#include "loopgate/status.h"

/* Read the file at path (at most max bytes) into *out, NUL-terminated, with
 * its length in *len; *out is the caller's to free. On failure *out is
 * NULL, an issue naming the file is added to issues and the
 * status says why: LG_EIO (cannot open or read), LG_ETOOLARGE (over max),
 * LG_ENOMEM. */
lg_status lg_file_read(const char *path, size_t max, char **out, size_t *len, lg_issues *issues);

#endif
