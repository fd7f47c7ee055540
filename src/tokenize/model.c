/* Models: loading the vocabulary and dispatching to WordPiece, BPE, Unigram or WordLevel. */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include "core/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void model_out_push(model_out *o, int32_t id, int32_t start, int32_t end, const char *text, size_t len)
{
    TK_GROW(o->v, o->cap, o->n + 1);
    o->v[o->n++] = (model_token){id, start, end, text, len};
}

void model_free(model *m)
{
    if (!m) return;
    strmap_free(&m->vocab);
    if (m->id_to_token) for (size_t i = 0; i < m->vocab_size; i++) free(m->id_to_token[i]);
    free(m->id_to_token);
    free(m->unk_token); free(m->prefix); free(m->suffix);
    bpe_free_parts(m);
    unigram_free_parts(m);
    free(m);
}

/* Registers token -> id, growing id_to_token; ids are bounded so hostile files cannot make us
 * allocate gigabytes. */
static adapt_status add_token(model *m, const char *tok, size_t len, double id_d, const char *what, size_t *cap)
{
    if (!isfinite(id_d) || id_d != floor(id_d) || id_d < 0 || id_d > TK_MAX_ID)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: vocabulary id %g for \"%.40s\" is not an integer in [0, %d]", what, id_d, tok, TK_MAX_ID);
    size_t id = (size_t)id_d;
    if (id >= *cap) {
        size_t nc = *cap ? *cap : 1024;
        while (nc <= id) nc *= 2;
        m->id_to_token = tk_realloc(m->id_to_token, nc * sizeof *m->id_to_token);
        memset(m->id_to_token + *cap, 0, (nc - *cap) * sizeof *m->id_to_token);
        *cap = nc;
    }
    if (id >= m->vocab_size) m->vocab_size = id + 1;
    free(m->id_to_token[id]);
    m->id_to_token[id] = tk_alloc(len + 1);
    memcpy(m->id_to_token[id], tok, len);
    m->id_to_token[id][len] = 0;
    strmap_put(&m->vocab, tok, len, (int32_t)id);
    return ADAPT_OK;
}

static adapt_status load_vocab_object(model *m, const cJSON *v, const char *what)
{
    if (!cJSON_IsObject(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: model \"vocab\" must be an object of token: id", what);
    size_t cap = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsNumber(it)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: vocabulary id of \"%.40s\" is not a number", what, it->string);
        TRY(add_token(m, it->string, strlen(it->string), it->valuedouble, what, &cap));
    }
    return ADAPT_OK;
}

/* Unigram: [[piece, score], ...], ids are positions. */
static adapt_status load_vocab_scores(model *m, const cJSON *v, const char *what)
{
    if (!cJSON_IsArray(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Unigram \"vocab\" must be an array of [piece, score]", what);
    size_t n = (size_t)cJSON_GetArraySize(v), cap = 0, i = 0;
    if (n > TK_MAX_ID) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Unigram vocabulary of %zu entries is too large", what, n);
    m->scores = tk_alloc((n ? n : 1) * sizeof *m->scores);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        const cJSON *p = cJSON_GetArrayItem(it, 0), *s = cJSON_GetArrayItem(it, 1);
        if (!cJSON_IsArray(it) || !cJSON_IsString(p) || !cJSON_IsNumber(s) || !isfinite(s->valuedouble))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: Unigram vocab entry %zu is not [string, finite number]", what, i);
        m->scores[i] = s->valuedouble;
        TRY(add_token(m, p->valuestring, strlen(p->valuestring), (double)i, what, &cap));
        i++;
    }
    return ADAPT_OK;
}

static adapt_status opt_string(const cJSON *j, const char *key, const char *what, const char *dflt, char **out)
{
    const char *s = dflt;
    TRY(json_get_str_opt(j, key, what, &s));
    *out = s ? tk_strdup(s) : NULL;
    return ADAPT_OK;
}

static adapt_status load_model(model *m, const cJSON *j, const char *what)
{
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(j, "vocab");
    if (!vocab) return adapt_fail(ADAPT_ERR_FORMAT, "%s: model has no \"vocab\"", what);
    m->unk_id = -1;
    switch (m->kind) {
    case MODEL_WORDPIECE: {
        TRY(load_vocab_object(m, vocab, what));
        TRY(opt_string(j, "unk_token", what, "[UNK]", &m->unk_token));
        TRY(opt_string(j, "continuing_subword_prefix", what, "##", &m->prefix));
        long long mx = 100;
        TRY(json_get_int_opt(j, "max_input_chars_per_word", 0, 1LL << 40, what, &mx));
        m->max_input_chars = (long)mx;
        break;
    }
    case MODEL_WORDLEVEL:
        TRY(load_vocab_object(m, vocab, what));
        TRY(opt_string(j, "unk_token", what, "<unk>", &m->unk_token));
        break;
    case MODEL_BPE:
        TRY(load_vocab_object(m, vocab, what));
        TRY(opt_string(j, "unk_token", what, NULL, &m->unk_token));
        TRY(opt_string(j, "continuing_subword_prefix", what, NULL, &m->prefix));
        TRY(opt_string(j, "end_of_word_suffix", what, NULL, &m->suffix));
        TRY(json_get_bool_opt(j, "fuse_unk", what, &m->fuse_unk));
        TRY(json_get_bool_opt(j, "byte_fallback", what, &m->byte_fallback));
        TRY(json_get_bool_opt(j, "ignore_merges", what, &m->ignore_merges));
        TRY(bpe_load(m, j, what));
        break;
    case MODEL_UNIGRAM: {
        TRY(load_vocab_scores(m, vocab, what));
        long long unk = -1;
        TRY(json_get_int_opt(j, "unk_id", 0, TK_MAX_ID, what, &unk));
        if (unk >= (long long)m->vocab_size) return adapt_fail(ADAPT_ERR_FORMAT, "%s: unk_id %lld is outside the vocabulary of %zu", what, unk, m->vocab_size);
        m->unk_id = (int32_t)unk;
        TRY(json_get_bool_opt(j, "byte_fallback", what, &m->byte_fallback));
        m->fuse_unk = true;
        TRY(unigram_build(m, what));
        break;
    }
    }
    int32_t id;
    if (m->unk_token && m->kind != MODEL_UNIGRAM && strmap_get(&m->vocab, m->unk_token, strlen(m->unk_token), &id)) m->unk_id = id;
    return ADAPT_OK;
}

adapt_status model_from_json(const cJSON *j, const char *what, model **out)
{
    *out = NULL;
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: missing or invalid \"model\"", what);
    const char *type = NULL;
    TRY(json_get_str_opt(j, "type", what, &type));
    model_kind kind;
    if (!type) { /* old files omit the tag; infer it as HF's untagged deserializer does */
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vocab");
        if (cJSON_GetObjectItemCaseSensitive(j, "merges")) kind = MODEL_BPE;
        else if (cJSON_IsArray(v)) kind = MODEL_UNIGRAM;
        else if (cJSON_GetObjectItemCaseSensitive(j, "continuing_subword_prefix") || cJSON_GetObjectItemCaseSensitive(j, "max_input_chars_per_word")) kind = MODEL_WORDPIECE;
        else kind = MODEL_WORDLEVEL;
    } else if (!strcmp(type, "WordPiece")) kind = MODEL_WORDPIECE;
    else if (!strcmp(type, "BPE")) kind = MODEL_BPE;
    else if (!strcmp(type, "Unigram")) kind = MODEL_UNIGRAM;
    else if (!strcmp(type, "WordLevel")) kind = MODEL_WORDLEVEL;
    else return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: unknown model type \"%s\"", what, type);
    model *m = tk_alloc(sizeof *m);
    memset(m, 0, sizeof *m);
    m->kind = kind;
    strmap_init(&m->vocab);
    adapt_status st = load_model(m, j, what);
    if (st) { model_free(m); return st; }
    *out = m;
    return ADAPT_OK;
}

static void wordlevel_tokenize(const model *m, const char *text, size_t len, size_t nchars, model_out *out)
{
    int32_t id;
    if (strmap_get(&m->vocab, text, len, &id)) model_out_push(out, id, 0, (int32_t)nchars, m->id_to_token[id], strlen(m->id_to_token[id]));
    else if (m->unk_id >= 0) model_out_push(out, m->unk_id, 0, (int32_t)nchars, m->unk_token, strlen(m->unk_token));
}

void model_tokenize(model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out)
{
    switch (m->kind) {
    case MODEL_WORDPIECE: wordpiece_tokenize(m, text, len, char_at, nchars, out); break;
    case MODEL_BPE: bpe_tokenize(m, text, len, char_at, nchars, out); break;
    case MODEL_UNIGRAM: unigram_tokenize(m, text, len, char_at, nchars, out); break;
    case MODEL_WORDLEVEL: wordlevel_tokenize(m, text, len, nchars, out); break;
    }
}
