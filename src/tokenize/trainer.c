/* adapt_tokenizer_train: counts pre-tokenized words over text files (plain or .xz), learns BPE
 * merges, and writes a tokenizer.json in the Hugging Face schema: RoBERTa-style byte-level BPE
 * or BERT-style WordPiece (trained as BPE with "##" continuation symbols, as HF does). */
#include "tokenize/tokenizer.h"
#include "tokenize/bpe_train.h"
#include "core/error.h"
#include "core/fileio.h"
#include "data/text_reader.h"
#include <stdlib.h>
#include <string.h>

cJSON *tk_template_json(const char *cls, int cls_id, const char *sep, int sep_id, bool double_sep, int pair_type);
cJSON *tk_added_json(const char *content, int id, bool lstrip);

typedef struct counter { strmap words; int64_t *count; size_t cap; } counter;

static void count_word(counter *c, const char *w, size_t len)
{
    int32_t i;
    if (strmap_get(&c->words, w, len, &i)) { c->count[i]++; return; }
    strmap_put(&c->words, w, len, (int32_t)c->words.n);
    TK_GROW(c->count, c->cap, c->words.n);
    c->count[c->words.n - 1] = 1;
}

/* ---- byte-level BPE words: GPT-2 regex pieces, bytes mapped to the byte-level alphabet */
typedef struct bl_ctx { counter *c; const char *line; char *buf; size_t cap; } bl_ctx;
static void on_piece(size_t a, size_t e, void *p)
{
    bl_ctx *x = p;
    const uint32_t *bc = bytelevel_byte_to_char();
    TK_GROW(x->buf, x->cap, 2 * (e - a) + 1);
    size_t n = 0;
    for (size_t i = a; i < e; i++) n += utf8_encode(bc[(unsigned char)x->line[i]], x->buf + n);
    if (n) count_word(x->c, x->buf, n);
}

/* ---- WordPiece words: the BERT normalizer and pre-tokenizer */
static void count_bert_words(counter *c, const normalizer *norm, const pretokenizer *pre, const char *line, size_t len, char **buf, size_t *cap)
{
    uint32_t *cps = tk_alloc((len + 1) * sizeof *cps);
    size_t n = utf8_decode_lossy(line, len, cps);
    nstr s; nstr_init(&s, 0);
    for (size_t i = 0; i < n; i++) nstr_push(&s, cps[i], (int32_t)i, (int32_t)i + 1);
    free(cps);
    normalizer_apply(norm, &s);
    piece_list l = {0};
    piece_list_push(&l, &s, -1);
    pretokenizer_apply(pre, &l);
    uint32_t *at = NULL; size_t at_cap = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t bl = nstr_utf8(&l.v[i].s, buf, cap, &at, &at_cap);
        if (bl) count_word(c, *buf, bl);
    }
    free(at);
    piece_list_free(&l);
}

static adapt_status read_corpus(const adapt_tokenizer_train_options *opt, const char *const *files, size_t n_files, counter *c)
{
    bool bpe = !strcmp(opt->type, "bpe");
    tk_regex *re = NULL;
    normalizer *norm = NULL; pretokenizer *pre = NULL;
    adapt_status st = ADAPT_OK;
    if (bpe) st = tk_regex_compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", false, "trainer", &re);
    else {
        cJSON *nj = cJSON_CreateObject(), *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(nj, "type", "BertNormalizer");
        cJSON_AddBoolToObject(nj, "lowercase", opt->lowercase);
        cJSON_AddStringToObject(pj, "type", "BertPreTokenizer");
        st = normalizer_from_json(nj, "trainer", 0, &norm);
        if (!st) st = pretokenizer_from_json(pj, "trainer", 0, &pre);
        cJSON_Delete(nj); cJSON_Delete(pj);
    }
    char *buf = NULL; size_t cap = 0;
    for (size_t f = 0; f < n_files && !st; f++) {
        text_reader *r;
        st = text_reader_open(files[f], 0, &r);
        if (st) break;
        const char *line; size_t len;
        while (!(st = text_reader_next(r, &line, &len)) && line) {
            if (bpe) {
                bl_ctx x = {c, line, buf, cap};
                tk_regex_each(re, line, len, on_piece, &x);
                buf = x.buf; cap = x.cap;
            } else count_bert_words(c, norm, pre, line, len, &buf, &cap);
        }
        text_reader_close(r);
    }
    free(buf);
    tk_regex_free(re); normalizer_free(norm); pretokenizer_free(pre);
    return st;
}

static const char *BPE_SPECIALS[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
static const char *WP_SPECIALS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

static void learn(const adapt_tokenizer_train_options *opt, counter *c, bpe_learner *l)
{
    bool bpe = !strcmp(opt->type, "bpe");
    char u[8];
    if (bpe) { /* the whole byte alphabet, so every text can be encoded */
        const uint32_t *bc = bytelevel_byte_to_char();
        uint32_t sorted[256];
        memcpy(sorted, bc, sizeof sorted);
        for (int i = 1; i < 256; i++) { uint32_t v = sorted[i]; int j = i; while (j > 0 && sorted[j - 1] > v) { sorted[j] = sorted[j - 1]; j--; } sorted[j] = v; }
        for (int i = 0; i < 256; i++) bpe_learner_symbol(l, u, utf8_encode(sorted[i], u));
    } else l->strip_prefix = "##";
    int32_t *syms = NULL; size_t scap = 0;
    char tmp[16];
    for (size_t w = 0; w < c->words.n; w++) {
        const char *word = strmap_key(&c->words, w);
        size_t len = c->words.entries[w].len, n = 0;
        for (size_t i = 0; i < len;) {
            size_t i0 = i;
            utf8_next(word, &i);
            TK_GROW(syms, scap, n + 1);
            if (!bpe && i0 > 0) {
                memcpy(tmp, "##", 2); memcpy(tmp + 2, word + i0, i - i0);
                syms[n++] = bpe_learner_symbol(l, tmp, 2 + i - i0);
            } else syms[n++] = bpe_learner_symbol(l, word + i0, i - i0);
        }
        bpe_learner_add_word(l, syms, (int32_t)n, c->count[w]);
    }
    free(syms);
    int64_t minf = opt->min_frequency ? (int64_t)opt->min_frequency : 2;
    bpe_learner_run(l, opt->vocab_size, 5, minf);
}

static cJSON *bytelevel_json(const char *type, bool add_prefix_space)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(o, "trim_offsets", true);
    cJSON_AddBoolToObject(o, "use_regex", true);
    return o;
}

static cJSON *tokenizer_json(const adapt_tokenizer_train_options *opt, const bpe_learner *l)
{
    bool bpe = !strcmp(opt->type, "bpe");
    const char **sp = bpe ? BPE_SPECIALS : WP_SPECIALS;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 5; i++) cJSON_AddItemToArray(added, tk_added_json(sp[i], i, false));
    cJSON *model = cJSON_CreateObject();
    if (bpe) {
        cJSON_AddNullToObject(root, "normalizer");
        cJSON_AddItemToObject(root, "pre_tokenizer", bytelevel_json("ByteLevel", false));
        cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
        cJSON_AddStringToObject(pp, "type", "RobertaProcessing");
        cJSON *sep = cJSON_AddArrayToObject(pp, "sep"), *cls = cJSON_AddArrayToObject(pp, "cls");
        cJSON_AddItemToArray(sep, cJSON_CreateString("</s>")); cJSON_AddItemToArray(sep, cJSON_CreateNumber(2));
        cJSON_AddItemToArray(cls, cJSON_CreateString("<s>")); cJSON_AddItemToArray(cls, cJSON_CreateNumber(0));
        cJSON_AddBoolToObject(pp, "trim_offsets", true);
        cJSON_AddBoolToObject(pp, "add_prefix_space", false);
        cJSON_AddItemToObject(root, "decoder", bytelevel_json("ByteLevel", true));
        cJSON_AddStringToObject(model, "type", "BPE");
        cJSON_AddNullToObject(model, "dropout");
        cJSON_AddNullToObject(model, "unk_token");
        cJSON_AddNullToObject(model, "continuing_subword_prefix");
        cJSON_AddNullToObject(model, "end_of_word_suffix");
        cJSON_AddBoolToObject(model, "fuse_unk", false);
        cJSON_AddBoolToObject(model, "byte_fallback", false);
        cJSON_AddBoolToObject(model, "ignore_merges", false);
    } else {
        cJSON *n = cJSON_AddObjectToObject(root, "normalizer");
        cJSON_AddStringToObject(n, "type", "BertNormalizer");
        cJSON_AddBoolToObject(n, "clean_text", true);
        cJSON_AddBoolToObject(n, "handle_chinese_chars", true);
        cJSON_AddNullToObject(n, "strip_accents");
        cJSON_AddBoolToObject(n, "lowercase", opt->lowercase);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "pre_tokenizer"), "type", "BertPreTokenizer");
        cJSON_AddItemToObject(root, "post_processor", tk_template_json("[CLS]", 2, "[SEP]", 3, false, 1));
        cJSON *d = cJSON_AddObjectToObject(root, "decoder");
        cJSON_AddStringToObject(d, "type", "WordPiece");
        cJSON_AddStringToObject(d, "prefix", "##");
        cJSON_AddBoolToObject(d, "cleanup", true);
        cJSON_AddStringToObject(model, "type", "WordPiece");
        cJSON_AddStringToObject(model, "unk_token", "[UNK]");
        cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
        cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    }
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < 5; i++) cJSON_AddNumberToObject(vocab, sp[i], i);
    /* a symbol equal to a special token would collide with it: skip it (ids stay dense) */
    int id = 5;
    for (size_t i = 0; i < l->n_sym; i++) {
        if (cJSON_GetObjectItemCaseSensitive(vocab, l->sym[i])) continue;
        cJSON_AddNumberToObject(vocab, l->sym[i], id++);
    }
    if (bpe) {
        cJSON *merges = cJSON_AddArrayToObject(model, "merges");
        for (size_t i = 0; i < l->n_merges; i++) {
            cJSON *m = cJSON_CreateArray();
            cJSON_AddItemToArray(m, cJSON_CreateString(l->sym[l->merges[i][0]]));
            cJSON_AddItemToArray(m, cJSON_CreateString(l->sym[l->merges[i][1]]));
            cJSON_AddItemToArray(merges, m);
        }
    }
    cJSON_AddItemToObject(root, "model", model);
    return root;
}

adapt_status adapt_tokenizer_train(const adapt_tokenizer_train_options *opt, const char *const *files, size_t n_files, const char *output)
{
    if (!opt || !opt->type || (strcmp(opt->type, "bpe") && strcmp(opt->type, "wordpiece")))
        return adapt_fail(ADAPT_ERR_ARG, "tokenizer train: --type must be bpe or wordpiece");
    if (opt->vocab_size < 300 || opt->vocab_size > TK_MAX_ID)
        return adapt_fail(ADAPT_ERR_ARG, "tokenizer train: vocab size %zu outside [300, %d]", opt->vocab_size, TK_MAX_ID);
    if (!n_files) return adapt_fail(ADAPT_ERR_ARG, "tokenizer train: no input files");
    counter c = {0};
    strmap_init(&c.words);
    adapt_status st = read_corpus(opt, files, n_files, &c);
    if (!st && !c.words.n) st = adapt_fail(ADAPT_ERR_ARG, "tokenizer train: the input files hold no text");
    if (!st) {
        bpe_learner l = {0};
        strmap_init(&l.sym_index);
        learn(opt, &c, &l);
        cJSON *root = tokenizer_json(opt, &l);
        char *text = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        bpe_learner_free(&l);
        if (!text) st = adapt_fail(ADAPT_ERR_NOMEM, "tokenizer train: cannot serialize the tokenizer");
        else {
            st = file_write_atomic(output, text, strlen(text));
            free(text);
        }
    }
    strmap_free(&c.words);
    free(c.count);
    return st;
}
