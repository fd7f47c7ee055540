/* Shared helpers for the cmocka tests: where the fixtures are, scratch folders, running the CLI. */
#ifndef ADAPT_TESTUTIL_H
#define ADAPT_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "adapt.h"

/* Absolute path of the shared material (env ADAPT_SHARED, else ../shared beside the repo). */
const char *shared_dir(void);
/* shared_dir() + "/" + rel, in a static rotating buffer (valid for the next 7 calls). */
const char *shared_path(const char *rel);
/* dir + "/" + rel in the same rotating buffers (e.g. a file in a test's scratch folder). */
const char *path_in(const char *dir, const char *rel);
/* Path of the build folder (env BUILD, else "build"), e.g. build_path("adapt"). */
const char *build_path(const char *rel);
/* A fresh scratch folder under /tmp, removed by the caller with remove_tree(). */
char *make_temp_dir(void);
void remove_tree(const char *dir);
/* Runs a shell command and returns its exit code (-1 if it did not exit normally). */
int run_command(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes bytes to a file (test setup; not atomic). */
void write_file(const char *path, const void *data, size_t len);

#endif
