/* A SentencePiece unigram .model (protobuf ModelProto) converted as transformers converts
 * XLM-RoBERTa: <s> <pad> </s> <unk> first (fairseq order), pieces from index 3 on, <mask> last;
 * Precompiled charsmap + collapse of repeated spaces; Metaspace; <s> A </s> </s> B </s>. */
#include "tokenize/tokenizer.h"
#include "tokenize/convert.h"
#include "core/error.h"
#include "core/fileio.h"
#include <stdlib.h>
#include <string.h>

typedef struct pb { const unsigned char *p, *end; } pb;

static bool varint(pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        unsigned char c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Reads one field header and, for length-delimited fields, the payload bounds. */
typedef struct field { uint32_t num, wire; uint64_t v; pb sub; uint32_t fixed32; } field;
static bool next_field(pb *b, field *f)
{
    uint64_t key;
    if (!varint(b, &key)) return false;
    f->num = (uint32_t)(key >> 3); f->wire = (uint32_t)(key & 7);
    switch (f->wire) {
    case 0: return varint(b, &f->v);
    case 1: if (b->end - b->p < 8) return false; b->p += 8; return true;
    case 2: {
        uint64_t len;
        if (!varint(b, &len) || len > (uint64_t)(b->end - b->p)) return false;
        f->sub.p = b->p; f->sub.end = b->p + len; b->p += len;
        return true;
    }
    case 5:
        if (b->end - b->p < 4) return false;
        memcpy(&f->fixed32, b->p, 4); b->p += 4;
        return true;
    default: return false;
    }
}

static char *pstr(const pb *s)
{
    size_t n = (size_t)(s->end - s->p);
    char *r = tk_alloc(n + 1);
    memcpy(r, s->p, n);
    r[n] = 0;
    return r;
}

cJSON *tk_template_json(const char *cls, int cls_id, const char *sep, int sep_id, bool double_sep, int pair_type);
cJSON *tk_added_json(const char *content, int id, bool lstrip);

static adapt_status convert(const char *path, const unsigned char *data, size_t len, adapt_tokenizer **out)
{
    pb b = {data, data + len};
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "Unigram");
    cJSON_AddNumberToObject(model, "unk_id", 3);
    cJSON *vocab = cJSON_AddArrayToObject(model, "vocab");
    const char *fairseq[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 4; i++) {
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateString(fairseq[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(0.0));
        cJSON_AddItemToArray(vocab, e);
    }
    size_t n_pieces = 0, n_vocab = 4;
    char *charsmap_b64 = NULL;
    long model_type = 1;
    bool byte_fallback = false;
    field f;
    adapt_status st = ADAPT_OK;
    while (b.p < b.end) {
        if (!next_field(&b, &f)) { st = adapt_fail(ADAPT_ERR_FORMAT, "%s: malformed protobuf", path); break; }
        if (f.num == 1 && f.wire == 2) {        /* SentencePiece */
            char *piece = NULL; float score = 0;
            field g;
            pb s = f.sub;
            while (s.p < s.end) {
                if (!next_field(&s, &g)) { st = adapt_fail(ADAPT_ERR_FORMAT, "%s: malformed piece %zu", path, n_pieces); break; }
                if (g.num == 1 && g.wire == 2) { free(piece); piece = pstr(&g.sub); }
                else if (g.num == 2 && g.wire == 5) memcpy(&score, &g.fixed32, 4);
            }
            if (!st && n_pieces >= 3) {
                cJSON *e = cJSON_CreateArray();
                cJSON_AddItemToArray(e, cJSON_CreateString(piece ? piece : ""));
                cJSON_AddItemToArray(e, cJSON_CreateNumber((double)score));
                cJSON_AddItemToArray(vocab, e);
                n_vocab++;
            }
            free(piece);
            n_pieces++;
            if (st) break;
        } else if (f.num == 2 && f.wire == 2) { /* TrainerSpec */
            field g; pb s = f.sub;
            while (s.p < s.end && next_field(&s, &g)) {
                if (g.num == 3 && g.wire == 0) model_type = (long)g.v;
                if (g.num == 35 && g.wire == 0) byte_fallback = g.v != 0;
            }
        } else if (f.num == 3 && f.wire == 2) { /* NormalizerSpec */
            field g; pb s = f.sub;
            while (s.p < s.end && next_field(&s, &g)) {
                if (g.num == 2 && g.wire == 2) {
                    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                    size_t n = (size_t)(g.sub.end - g.sub.p);
                    free(charsmap_b64);
                    charsmap_b64 = tk_alloc(4 * (n / 3 + 1) + 1);
                    size_t o = 0;
                    for (size_t i = 0; i < n; i += 3) {
                        uint32_t v = (uint32_t)g.sub.p[i] << 16 | (i + 1 < n ? (uint32_t)g.sub.p[i + 1] << 8 : 0) | (i + 2 < n ? g.sub.p[i + 2] : 0);
                        charsmap_b64[o++] = tbl[(v >> 18) & 63];
                        charsmap_b64[o++] = tbl[(v >> 12) & 63];
                        charsmap_b64[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
                        charsmap_b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
                    }
                    charsmap_b64[o] = 0;
                }
            }
        }
    }
    if (!st && model_type != 1) st = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: only unigram SentencePiece models are supported (model_type %ld)", path, model_type);
    if (!st && n_pieces < 3) st = adapt_fail(ADAPT_ERR_FORMAT, "%s: SentencePiece model with %zu pieces", path, n_pieces);
    if (st) { free(charsmap_b64); cJSON_Delete(root); return st; }
    cJSON *e = cJSON_CreateArray();
    cJSON_AddItemToArray(e, cJSON_CreateString("<mask>"));
    cJSON_AddItemToArray(e, cJSON_CreateNumber(0.0));
    cJSON_AddItemToArray(vocab, e);
    int mask_id = (int)n_vocab;
    cJSON_AddBoolToObject(model, "byte_fallback", byte_fallback);

    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(added, tk_added_json(fairseq[i], i, false));
    cJSON_AddItemToArray(added, tk_added_json("<mask>", mask_id, true));

    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "Sequence");
    cJSON *list = cJSON_AddArrayToObject(norm, "normalizers");
    if (charsmap_b64 && *charsmap_b64) {
        cJSON *pc = cJSON_CreateObject();
        cJSON_AddStringToObject(pc, "type", "Precompiled");
        cJSON_AddStringToObject(pc, "precompiled_charsmap", charsmap_b64);
        cJSON_AddItemToArray(list, pc);
    }
    free(charsmap_b64);
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "type", "Replace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(rep, "pattern"), "Regex", " {2,}");
    cJSON_AddStringToObject(rep, "content", " ");
    cJSON_AddItemToArray(list, rep);
    const char *meta[] = {"pre_tokenizer", "decoder"};
    for (int i = 0; i < 2; i++) {
        cJSON *m = cJSON_AddObjectToObject(root, meta[i]);
        cJSON_AddStringToObject(m, "type", "Metaspace");
        cJSON_AddStringToObject(m, "replacement", "\xE2\x96\x81");
        cJSON_AddStringToObject(m, "prepend_scheme", "always");
        cJSON_AddBoolToObject(m, "split", true);
    }
    cJSON_AddItemToObject(root, "post_processor", tk_template_json("<s>", 0, "</s>", 2, true, 0));
    st = tokenizer_from_json(root, path, out);
    cJSON_Delete(root);
    return st;
}

adapt_status tokenizer_from_spm(const char *path, const char *dir, adapt_tokenizer **out)
{
    (void)dir;
    *out = NULL;
    char *data; size_t len;
    TRY(file_read_all(path, (size_t)1 << 30, &data, &len));
    adapt_status st = convert(path, (const unsigned char *)data, len, out);
    free(data);
    return st;
}
