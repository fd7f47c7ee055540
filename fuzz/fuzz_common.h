/* Shared helpers for the libFuzzer targets in fuzz/ (built by scripts/fuzz.sh).
 *
 * Parsers that read files get the input through a private temporary folder, created once per
 * process and removed at exit. Targets that need several files split one input at FUZZ_SEP
 * (a marker the seeds and the dictionary use), so one corpus entry describes a whole folder. */
#ifndef ADAPT_FUZZ_COMMON_H
#define ADAPT_FUZZ_COMMON_H
#include "adapt.h"
#include "core/error.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_SEP "\n--ADAPT-FILE--\n"
#define FUZZ_MAX_PARTS 8

static char fuzz_dir_[256];

static void fuzz_rm_dir_(void)
{
    if (!fuzz_dir_[0]) return;
    DIR *d = opendir(fuzz_dir_);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", fuzz_dir_, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(fuzz_dir_);
}

/* The per-process scratch folder (created on first use). */
static const char *fuzz_dir(void)
{
    if (!fuzz_dir_[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/adapt-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir_)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_rm_dir_);
    }
    return fuzz_dir_;
}

/* Empties the scratch folder (so files of the previous input never leak into this one). */
static void fuzz_clear_dir(void)
{
    const char *dir = fuzz_dir();
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

/* Writes bytes to <scratch>/<name>; returns the path (static buffer). */
static const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

/* A NUL-terminated copy of the input (malloc'd; the caller frees it). */
static char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* With FUZZ_VERBOSE set, prints why an input was refused (to check that seeds are accepted). */
static adapt_status fuzz_check(adapt_status s, const char *what)
{
    if (s != ADAPT_OK && getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s: refused: %s\n", what, adapt_error());
    else if (s == ADAPT_OK && getenv("FUZZ_VERBOSE")) fprintf(stderr, "%s: accepted\n", what);
    return s;
}

typedef struct fuzz_part {
    const uint8_t *data;
    size_t size;
} fuzz_part;

/* Splits the input at FUZZ_SEP into at most `max` parts; returns how many. */
static size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t max)
{
    const size_t sl = sizeof FUZZ_SEP - 1;
    size_t n = 0, start = 0;
    for (size_t i = 0; n + 1 < max && i + sl <= size; i++)
        if (data[i] == FUZZ_SEP[0] && !memcmp(data + i, FUZZ_SEP, sl)) {
            parts[n].data = data + start;
            parts[n].size = i - start;
            n++;
            i += sl - 1;
            start = i + 1;
        }
    parts[n].data = data + start;
    parts[n].size = size - start;
    return n + 1;
}

#endif
