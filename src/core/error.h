/* Thread-local error message; adapt_fail() sets it and returns the status, so callers write
 * `return adapt_fail(ADAPT_ERR_FORMAT, "%s: header length %llu past end of file", path, n);` */
#ifndef ADAPT_CORE_ERROR_H
#define ADAPT_CORE_ERROR_H
#include "adapt.h"

adapt_status adapt_fail(adapt_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void adapt_clear_error(void);
/* Puts "where: " before the current message unless it already starts with "where:" or "where/"
 * (a file in that folder); returns status.
 * For errors from code that does not know the file it works for. */
adapt_status adapt_fail_in(adapt_status status, const char *where);

/* Propagate a failing status: `TRY(st_open(...));` */
#define TRY(expr) do { adapt_status try_status_ = (expr); if (try_status_ != ADAPT_OK) return try_status_; } while (0)

#endif
