#include "testutil.h"
#include "core/json.h"
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

int run_adapt(const char *dir, const char *args)
{
    const char *pwd = getenv("PWD");
    return run_command("cd '%s' && '%s/%s' %s > last.log 2>&1", dir, pwd ? pwd : ".", build_path("adapt"), args);
}

int make_tiny_roberta(const char *dir, bool no_dropout)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"roberta\", \"architectures\": [\"RobertaForMaskedLM\"], \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 2, \"intermediate_size\": 64, \"vocab_size\": 400, "
             "\"max_position_embeddings\": 130, \"type_vocab_size\": 1, \"pad_token_id\": 1, \"layer_norm_eps\": 1e-5, "
             "\"hidden_act\": \"gelu\"%s}",
             no_dropout ? ", \"hidden_dropout_prob\": 0.0, \"attention_probs_dropout_prob\": 0.0" : "");
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, cfg, strlen(cfg));
    if (run_command("head -n 300 '%s' > '%s/en.txt'", shared_path("data/text/en.txt"), dir)) return -1;
    int rc = run_adapt(dir, "tokenizer train --type bpe --vocab-size 400 --output tok en.txt");
    return rc ? rc : run_adapt(dir, "init-model --config config.json --tokenizer tok/tokenizer.json --output base");
}

const char *path_in(const char *dir, const char *rel)
{
    static char bufs[16][4400];
    static int next;
    char *p = bufs[next++ & 15];
    snprintf(p, sizeof bufs[0], "%s/%s", dir, rel);
    return p;
}

double json_file_number(const char *path, const char *key)
{
    cJSON *root;
    assert_int_equal(json_load_file(path, &root), ADAPT_OK);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(v)) fail_msg("%s: no number \"%s\"", path, key);
    double d = v->valuedouble;
    cJSON_Delete(root);
    return d;
}

char *test_tmp;

int test_tmp_setup(void **state)
{
    (void)state;
    test_tmp = make_temp_dir();
    return 0;
}

int test_tmp_teardown(void **state)
{
    (void)state;
    remove_tree(test_tmp);
    free(test_tmp);
    test_tmp = NULL;
    return 0;
}

double test_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

void assert_log_says(const char *dir, const char *text)
{
    const char *log = path_in(dir, "last.log");
    if (run_command("grep -qF -- '%s' '%s'", text, log)) {
        run_command("cat '%s' >&2", log);
        fail_msg("adapt's output does not say \"%s\"", text);
    }
}
