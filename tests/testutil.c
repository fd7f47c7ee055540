#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *shared_dir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *env = getenv("ADAPT_SHARED");
        if (!realpath(env && *env ? env : "../shared", dir)) snprintf(dir, sizeof dir, "%s", env ? env : "../shared");
    }
    return dir;
}

static const char *rotate(const char *a, const char *b)
{
    static char bufs[8][8192];
    static int next;
    char *p = bufs[next++ & 7];
    size_t la = strnlen(a, 4000), lb = strnlen(b, 4000);
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb);
    p[la + 1 + lb] = 0;
    return p;
}

const char *shared_path(const char *rel) { return rotate(shared_dir(), rel); }

const char *path_in(const char *dir, const char *rel) { return rotate(dir, rel); }

const char *build_path(const char *rel)
{
    const char *b = getenv("BUILD");
    return rotate(b && *b ? b : "build", rel);
}

char *make_temp_dir(void)
{
    char tmpl[] = "/tmp/adapt-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void remove_tree(const char *dir)
{
    if (dir && strncmp(dir, "/tmp/adapt-test-", 16) == 0) run_command("rm -rf '%s'", dir);
}

int run_command(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc)) return -1;
    return WEXITSTATUS(rc);
}

void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}
