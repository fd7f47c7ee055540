/* tokenizer.json -> adapt_tokenizer, and the file/folder dispatch of adapt_tokenizer_load. */
#include "tokenize/tokenizer.h"
#include "tokenize/convert.h"
#include "tokenize/files.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void adapt_tokenizer_free(adapt_tokenizer *t)
{
    if (!t) return;
    added_vocab_free(&t->added);
    normalizer_free(t->norm);
    pretokenizer_free(t->pre);
    model_free(t->model);
    postprocessor_free(t->post);
    decoder_free(t->dec);
    free(t->pad_token);
    free(t);
}

static adapt_status load_added(adapt_tokenizer *t, const cJSON *arr, const char *what)
{
    strmap_init(&t->added.by_content);
    if (!arr || cJSON_IsNull(arr)) return ADAPT_OK;
    if (!cJSON_IsArray(arr)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"added_tokens\" must be an array", what);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    t->added.v = tk_alloc((cnt ? cnt : 1) * sizeof *t->added.v);
    memset(t->added.v, 0, (cnt ? cnt : 1) * sizeof *t->added.v);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsObject(it)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: added token %zu is not an object", what, t->added.n);
        const char *content; long long id;
        TRY(json_get_str(it, "content", what, &content));
        TRY(json_get_int(it, "id", 0, TK_MAX_ID, what, &id));
        added_token *a = &t->added.v[t->added.n++];
        a->content = tk_strdup(content);
        a->id = (int32_t)id;
        a->normalized = true; /* HF's default for added tokens */
        TRY(json_get_bool_opt(it, "special", what, &a->special));
        if (a->special) a->normalized = false;
        TRY(json_get_bool_opt(it, "lstrip", what, &a->lstrip));
        TRY(json_get_bool_opt(it, "rstrip", what, &a->rstrip));
        TRY(json_get_bool_opt(it, "single_word", what, &a->single_word));
        TRY(json_get_bool_opt(it, "normalized", what, &a->normalized));
        a->cps = tk_utf8_to_cps(content, &a->ncp);
        strmap_put(&t->added.by_content, content, strlen(content), (int32_t)(t->added.n - 1));
    }
    return ADAPT_OK;
}

/* Normalized added tokens are matched in normalized text, so their content is normalized too. */
static void normalize_added(adapt_tokenizer *t)
{
    for (size_t i = 0; i < t->added.n; i++) {
        added_token *a = &t->added.v[i];
        if (!a->normalized) continue;
        nstr s; nstr_init(&s, 0);
        for (size_t k = 0; k < a->ncp; k++) nstr_push(&s, a->cps[k], (int32_t)k, (int32_t)k + 1);
        if (t->norm) normalizer_apply(t->norm, &s);
        a->norm_cps = tk_alloc((s.n ? s.n : 1) * sizeof *a->norm_cps);
        memcpy(a->norm_cps, s.c, s.n * sizeof *s.c);
        a->norm_ncp = s.n;
        nstr_free(&s);
    }
}

static adapt_status load_truncation(adapt_tokenizer *t, const cJSON *j, const char *what)
{
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"truncation\" must be an object or null", what);
    long long max = 512, stride = 0;
    const char *strategy = "LongestFirst", *dir = "Right";
    TRY(json_get_int_opt(j, "max_length", 0, 1LL << 30, what, &max));
    TRY(json_get_int_opt(j, "stride", 0, 1LL << 30, what, &stride));
    TRY(json_get_str_opt(j, "strategy", what, &strategy));
    TRY(json_get_str_opt(j, "direction", what, &dir));
    t->has_truncation = true;
    t->trunc_max = (size_t)max; t->trunc_stride = (size_t)stride;
    t->trunc_left = !strcmp(dir, "Left");
    if (!strcmp(strategy, "LongestFirst")) t->trunc_strategy = TRUNC_LONGEST_FIRST;
    else if (!strcmp(strategy, "OnlyFirst")) t->trunc_strategy = TRUNC_ONLY_FIRST;
    else if (!strcmp(strategy, "OnlySecond")) t->trunc_strategy = TRUNC_ONLY_SECOND;
    else return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown truncation strategy \"%s\"", what, strategy);
    return ADAPT_OK;
}

static adapt_status load_padding(adapt_tokenizer *t, const cJSON *j, const char *what)
{
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"padding\" must be an object or null", what);
    long long pad_id = 0, pad_type = 0, multiple = 0;
    const char *pad_token = "[PAD]", *dir = "Right";
    TRY(json_get_int_opt(j, "pad_id", 0, TK_MAX_ID, what, &pad_id));
    TRY(json_get_int_opt(j, "pad_type_id", 0, 1 << 20, what, &pad_type));
    TRY(json_get_int_opt(j, "pad_to_multiple_of", 0, 1 << 20, what, &multiple));
    TRY(json_get_str_opt(j, "pad_token", what, &pad_token));
    TRY(json_get_str_opt(j, "direction", what, &dir));
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "strategy");
    t->has_padding = true;
    t->pad_fixed = false;
    if (cJSON_IsObject(st)) {
        long long fixed;
        TRY(json_get_int(st, "Fixed", 0, 1LL << 30, what, &fixed));
        t->pad_fixed = true; t->pad_len = (size_t)fixed;
    } else if (st && !cJSON_IsNull(st) && !(cJSON_IsString(st) && !strcmp(st->valuestring, "BatchLongest")))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: padding strategy must be \"BatchLongest\" or {\"Fixed\": n}", what);
    t->pad_id = (int32_t)pad_id; t->pad_type_id = (int32_t)pad_type; t->pad_multiple = (size_t)multiple;
    t->pad_left = !strcmp(dir, "Left");
    free(t->pad_token);
    t->pad_token = tk_strdup(pad_token);
    return ADAPT_OK;
}

static adapt_status build(adapt_tokenizer *t, const cJSON *root, const char *what)
{
    TRY(load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), what));
    TRY(normalizer_from_json(cJSON_GetObjectItemCaseSensitive(root, "normalizer"), what, 0, &t->norm));
    TRY(pretokenizer_from_json(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), what, 0, &t->pre));
    TRY(model_from_json(cJSON_GetObjectItemCaseSensitive(root, "model"), what, &t->model));
    TRY(postprocessor_from_json(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), what, 0, &t->post));
    TRY(decoder_from_json(cJSON_GetObjectItemCaseSensitive(root, "decoder"), what, 0, &t->dec));
    TRY(load_truncation(t, cJSON_GetObjectItemCaseSensitive(root, "truncation"), what));
    TRY(load_padding(t, cJSON_GetObjectItemCaseSensitive(root, "padding"), what));
    normalize_added(t);
    return ADAPT_OK;
}

adapt_status tokenizer_from_json(const cJSON *root, const char *what, adapt_tokenizer **out)
{
    *out = NULL;
    if (!cJSON_IsObject(root)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tokenizer must be a JSON object", what);
    adapt_tokenizer *t = tk_alloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->pad_token = tk_strdup("[PAD]");
    adapt_status st = build(t, root, what);
    if (st) { adapt_tokenizer_free(t); return st; }
    *out = t;
    return ADAPT_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static adapt_status load_json_file(const char *path, adapt_tokenizer **out)
{
    cJSON *root;
    TRY(json_load_file(path, &root));
    adapt_status st = tokenizer_from_json(root, path, out);
    cJSON_Delete(root);
    return st;
}

/* The first *.model file of a folder (sorted by name for determinism), or NULL. */
static char *find_spm_model(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *best = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".model")) continue;
        if (!best || strcmp(e->d_name, best) < 0) { free(best); best = tk_strdup(e->d_name); }
    }
    closedir(d);
    if (!best) return NULL;
    char *p = path_join(dir, best);
    free(best);
    return p;
}

adapt_status tokenizer_find_file(const char *path, char **file, bool *is_dir)
{
    *file = NULL;
    struct stat sb;
    if (!path || stat(path, &sb)) return adapt_fail(ADAPT_ERR_IO, "%s: no such tokenizer file or folder", path ? path : "(null)");
    *is_dir = S_ISDIR(sb.st_mode);
    if (!*is_dir) {
        *file = tk_strdup(path);
        return ADAPT_OK;
    }
    static const char *const names[] = {"tokenizer.json", "vocab.txt"};
    for (int i = 0; i < 2; i++) {
        char *p = path_join(path, names[i]);
        if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (path_exists(p)) {
            *file = p;
            return ADAPT_OK;
        }
        free(p);
    }
    *file = find_spm_model(path);
    if (!*file) return adapt_fail(ADAPT_ERR_IO, "%s: no tokenizer.json, vocab.txt or SentencePiece .model in this folder", path);
    return ADAPT_OK;
}

adapt_status adapt_tokenizer_load(const char *path, adapt_tokenizer **out)
{
    *out = NULL;
    bool is_dir;
    char *file;
    TRY(tokenizer_find_file(path, &file, &is_dir));
    const char *dir = is_dir ? path : NULL; /* a folder's tokenizer_config.json applies */
    adapt_status st;
    if (ends_with(file, ".model")) st = tokenizer_from_spm(file, dir, out);
    else if (ends_with(file, ".txt")) st = tokenizer_from_vocab_txt(file, dir, out);
    else st = load_json_file(file, out);
    free(file);
    return st;
}
