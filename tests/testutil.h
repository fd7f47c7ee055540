/* Shared helpers for the cmocka tests: where the fixtures are, scratch folders, running the CLI. */
#ifndef ADAPT_TESTUTIL_H
#define ADAPT_TESTUTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <cmocka.h>
#include "adapt.h"

/* Absolute path of the shared material (env ADAPT_SHARED, else ../shared beside the repo). */
const char *shared_dir(void);
/* shared_dir() + "/" + rel, in a static rotating buffer (valid for the next 7 calls). */
const char *shared_path(const char *rel);
/* Path of the build folder (env BUILD, else "build"), e.g. build_path("adapt"). */
const char *build_path(const char *rel);
/* A fresh scratch folder under /tmp, removed by the caller with remove_tree(). */
char *make_temp_dir(void);
void remove_tree(const char *dir);
/* Runs a shell command and returns its exit code (-1 if it did not exit normally). */
int run_command(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes bytes to a file (test setup; not atomic). */
void write_file(const char *path, const void *data, size_t len);
/* dir + "/" + rel in a static rotating buffer (valid for the next 15 calls). */
const char *path_in(const char *dir, const char *rel);
/* A number member of a JSON file's top-level object (the test fails when it is missing). */
double json_file_number(const char *path, const char *key);
/* Fails the test, showing the log, unless dir/last.log (what run_adapt and the tests' own runners
 * capture) contains `text` (a fixed string). */
void assert_log_says(const char *dir, const char *text);
/* Uniform double in [0, 1) from a splitmix64 stream (deterministic test data). */
double test_uniform(uint64_t *state);
/* Group setup / teardown that make and remove a scratch folder, test_tmp. */
extern char *test_tmp;
int test_tmp_setup(void **state);
int test_tmp_teardown(void **state);
/* Runs `adapt ARGS` (the build's binary) inside `dir`, its output in dir/last.log; the exit code. */
int run_adapt(const char *dir, const char *args);
/* In `dir`: a BPE tokenizer (tok/, vocab 400) trained on 300 lines of ../shared English text and a
 * random 2-layer RoBERTa (hidden 32) in dir/base using it, dropout off when `no_dropout`. 0 on
 * success (dir/last.log says why not). */
int make_tiny_roberta(const char *dir, bool no_dropout);

#endif
