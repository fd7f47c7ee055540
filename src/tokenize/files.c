#include "tokenize/files.h"
#include "core/error.h"
#include "core/fileio.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TOKENIZER_FILE_MAX ((size_t)256 << 20)

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Copies src to dir/name unless both are the same file (a model folder named as its own tokenizer). */
static adapt_status copy_one(const char *src, const char *dir, const char *name)
{
    char *dst = path_join(dir, name);
    if (!dst) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    char a[PATH_MAX], b[PATH_MAX];
    bool same = realpath(src, a) && realpath(dst, b) && !strcmp(a, b);
    char *text = NULL;
    size_t len;
    adapt_status s = same ? ADAPT_OK : file_read_all(src, TOKENIZER_FILE_MAX, &text, &len);
    if (!s && !same) s = file_write_atomic(dst, text, len);
    free(text);
    free(dst);
    return s;
}

adapt_status tokenizer_copy_files(const char *path, const char *dir)
{
    char *file;
    bool is_dir;
    TRY(tokenizer_find_file(path, &file, &is_dir));
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    const char *name = ends_with(file, ".model") ? base : ends_with(file, ".txt") ? "vocab.txt" : "tokenizer.json";
    adapt_status s = copy_one(file, dir, name);
    free(file);
    if (s || !is_dir) return s;
    char *config = path_join(path, "tokenizer_config.json");
    if (!config) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (path_exists(config)) s = copy_one(config, dir, "tokenizer_config.json");
    free(config);
    return s;
}
