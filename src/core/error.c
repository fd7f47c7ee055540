#include "core/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_message[1024];

const char *adapt_error(void) { return error_message; }

void adapt_clear_error(void) { error_message[0] = 0; }

adapt_status adapt_fail(adapt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

adapt_status adapt_fail_in(adapt_status status, const char *where)
{
    size_t n = where ? strlen(where) : 0;
    if (status == ADAPT_OK || !where || (!strncmp(error_message, where, n) && (error_message[n] == '/' || error_message[n] == ':')))
        return status; /* already "where/file: ..." or "where: ..." */
    char message[sizeof error_message];
    snprintf(message, sizeof message, "%s", error_message);
    snprintf(error_message, sizeof error_message, "%.300s: %.700s", where, message);
    return status;
}
