#include "core/fileio.h"
#include "core/error.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

adapt_status file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return adapt_fail(ADAPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return adapt_fail(ADAPT_ERR_IO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        fclose(fp);
        return adapt_fail(ADAPT_ERR_NOMEM, "%s: file is %lld bytes, more than the %zu allowed", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len + 1);
    if (!buf) {
        fclose(fp);
        return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, len);
    }
    size_t got = fread(buf, 1, len, fp);
    fclose(fp);
    if (got != len) {
        free(buf);
        return adapt_fail(ADAPT_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, len);
    }
    buf[len] = 0;
    *out = buf;
    if (out_len) *out_len = len;
    return ADAPT_OK;
}

adapt_status file_map_open(const char *path, file_map *map)
{
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return adapt_fail(ADAPT_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return ADAPT_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return adapt_fail(ADAPT_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    map->data = p;
    map->size = (size_t)st.st_size;
    return ADAPT_OK;
}

void file_map_close(file_map *map)
{
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

adapt_status atomic_file_begin(atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->final_path = strdup(path);
    af->temp_path = malloc(n + 32);
    if (!af->final_path || !af->temp_path) {
        atomic_file_abort(af);
        return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->temp_path, n + 32, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->temp_path);
    if (fd < 0) {
        adapt_status s = adapt_fail(ADAPT_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(af->temp_path);
        af->temp_path = NULL;
        atomic_file_abort(af);
        return s;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        atomic_file_abort(af);
        return adapt_fail(ADAPT_ERR_IO, "%s: cannot open temporary file", path);
    }
    return ADAPT_OK;
}

static void fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

adapt_status atomic_file_commit(atomic_file *af)
{
    const char *path = af->final_path;
    bool ok = fflush(af->fp) == 0 && !ferror(af->fp) && fsync(fileno(af->fp)) == 0;
    ok = (fclose(af->fp) == 0) && ok;
    af->fp = NULL;
    if (!ok) {
        adapt_status s = adapt_fail(ADAPT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        atomic_file_abort(af);
        return s;
    }
    if (rename(af->temp_path, path) != 0) {
        adapt_status s = adapt_fail(ADAPT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        atomic_file_abort(af);
        return s;
    }
    fsync_parent_dir(path);
    free(af->temp_path);
    free(af->final_path);
    af->temp_path = af->final_path = NULL;
    return ADAPT_OK;
}

void atomic_file_abort(atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    if (af->temp_path) unlink(af->temp_path);
    free(af->temp_path);
    free(af->final_path);
    memset(af, 0, sizeof *af);
}

adapt_status file_write_atomic(const char *path, const void *data, size_t len)
{
    atomic_file af;
    TRY(atomic_file_begin(&af, path));
    if (len && fwrite(data, 1, len, af.fp) != len) {
        atomic_file_abort(&af);
        return adapt_fail(ADAPT_ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

adapt_status dir_make(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return adapt_fail(ADAPT_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    return ADAPT_OK;
}
