/* Post-processors: special tokens around one or two sequences, type ids, ByteLevel offset trims. */
#include "tokenize/tokenizer.h"
#include "tokenize/uchar.h"
#include "core/error.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>

void postprocessor_free(postprocessor *p)
{
    if (!p) return;
    free(p->sep_tok); free(p->cls_tok);
    for (size_t i = 0; i < p->n_single; i++) free(p->single[i].special_id);
    for (size_t i = 0; i < p->n_pair; i++) free(p->pair[i].special_id);
    free(p->single); free(p->pair);
    for (size_t i = 0; i < p->n_specials; i++) {
        special_entry *s = &p->specials[i];
        for (size_t k = 0; k < s->n; k++) free(s->tokens[k]);
        free(s->name); free(s->ids); free(s->tokens);
    }
    free(p->specials);
    for (size_t i = 0; i < p->n_children; i++) postprocessor_free(p->children[i]);
    free(p->children);
    free(p);
}

static const special_entry *find_special(const postprocessor *p, const char *name)
{
    for (size_t i = 0; i < p->n_specials; i++) if (!strcmp(p->specials[i].name, name)) return &p->specials[i];
    return NULL;
}

size_t postprocessor_added(const postprocessor *p, bool pair)
{
    if (!p) return 0;
    switch (p->kind) {
    case POST_BERT: return pair ? 3 : 2;
    case POST_ROBERTA: return pair ? 4 : 2;
    case POST_BYTELEVEL: return 0;
    case POST_TEMPLATE: {
        size_t n = 0;
        const template_piece *t = pair ? p->pair : p->single;
        size_t cnt = pair ? p->n_pair : p->n_single;
        for (size_t i = 0; i < cnt; i++)
            if (t[i].is_special) { const special_entry *s = find_special(p, t[i].special_id); n += s ? s->n : 0; }
        return n;
    }
    case POST_SEQUENCE: {
        size_t n = 0;
        for (size_t i = 0; i < p->n_children; i++) n += postprocessor_added(p->children[i], pair);
        return n;
    }
    }
    return 0;
}

/* HF's byte-level process_offsets: leading/trailing 'Ġ' (encoded spaces) leave the offsets. */
void bytelevel_trim_offsets(tk_encoding *e, bool add_prefix_space)
{
    const uint32_t space = bytelevel_byte_to_char()[' '];
    for (size_t i = 0; i < e->n; i++) {
        const char *t = e->text + e->tok_off[i];
        size_t len = e->tok_len[i];
        uint32_t cps[256]; size_t n = 0;
        for (size_t k = 0; k < len && n < 256;) cps[n++] = utf8_next(t, &k);
        size_t lead = 0, trail = 0;
        while (lead < n && (cps[lead] == space || uc_is_whitespace(cps[lead]))) lead++;
        while (trail < n && (cps[n - 1 - trail] == space || uc_is_whitespace(cps[n - 1 - trail]))) trail++;
        if (!lead && !trail) continue;
        if (lead) {
            bool is_first = i == 0 || e->start[i] == 0;
            if (is_first && add_prefix_space && lead == 1) lead = 0;
            int32_t ns = e->start[i] + (int32_t)lead;
            e->start[i] = ns < e->end[i] ? ns : e->end[i];
        }
        if (trail && e->end[i] >= (int32_t)trail) {
            int32_t ne = e->end[i] - (int32_t)trail;
            e->end[i] = ne > e->start[i] ? ne : e->start[i];
        }
    }
}

static void push_special(tk_encoding *out, const char *tok, int32_t id, int32_t type_id)
{
    tk_enc_push(out, id, tok, strlen(tok), 0, 0, -1, type_id, 1);
}

static void append_typed(tk_encoding *out, const tk_encoding *src, int32_t type_id)
{
    size_t first = out->n;
    tk_enc_append(out, src);
    if (type_id >= 0) for (size_t i = first; i < out->n; i++) out->type_ids[i] = type_id;
}

static void apply_one(const postprocessor *p, tk_encoding *a, tk_encoding *b, bool add_special, tk_encoding *out)
{
    switch (p->kind) {
    case POST_BYTELEVEL: case POST_ROBERTA:
        if (p->trim_offsets) { bytelevel_trim_offsets(a, p->add_prefix_space); if (b) bytelevel_trim_offsets(b, p->add_prefix_space); }
        if (p->kind == POST_BYTELEVEL || !add_special) break;
        push_special(out, p->cls_tok, p->cls_id, 0);
        append_typed(out, a, 0);
        push_special(out, p->sep_tok, p->sep_id, 0);
        if (b) {
            push_special(out, p->sep_tok, p->sep_id, 0);
            append_typed(out, b, 0);
            push_special(out, p->sep_tok, p->sep_id, 0);
        }
        return;
    case POST_BERT:
        if (!add_special) break;
        push_special(out, p->cls_tok, p->cls_id, 0);
        append_typed(out, a, 0);
        push_special(out, p->sep_tok, p->sep_id, 0);
        if (b) { append_typed(out, b, 1); push_special(out, p->sep_tok, p->sep_id, 1); }
        return;
    case POST_TEMPLATE: {
        /* without special tokens the template still sets the type ids of A and B */
        const template_piece *t = b ? p->pair : p->single;
        size_t cnt = b ? p->n_pair : p->n_single;
        for (size_t i = 0; i < cnt; i++) {
            if (t[i].is_special) {
                if (!add_special) continue;
                const special_entry *s = find_special(p, t[i].special_id);
                for (size_t k = 0; s && k < s->n; k++) push_special(out, s->tokens[k], s->ids[k], t[i].type_id);
            } else append_typed(out, t[i].seq == 0 ? a : b, t[i].type_id);
        }
        return;
    }
    case POST_SEQUENCE: break;
    }
    /* no special tokens: A then B, HF's default type ids (0 for A, 1 for B) unless already set */
    append_typed(out, a, -1);
    if (b) append_typed(out, b, -1);
}

void postprocessor_apply(const postprocessor *p, tk_encoding *a, tk_encoding *b, bool add_special, tk_encoding *out)
{
    if (!p) {
        if (b) for (size_t i = 0; i < b->n; i++) b->type_ids[i] = 1;
        append_typed(out, a, -1);
        if (b) append_typed(out, b, -1);
        return;
    }
    if (p->kind != POST_SEQUENCE) { apply_one(p, a, b, add_special, out); return; }
    /* Sequence: each processor sees the previous result as a single sequence, except the first. */
    tk_encoding cur_a = {0}, cur_b = {0};
    tk_enc_append(&cur_a, a);
    bool have_b = b != NULL;
    if (b) tk_enc_append(&cur_b, b);
    for (size_t i = 0; i < p->n_children; i++) {
        const postprocessor *c = p->children[i];
        if (c->kind == POST_BYTELEVEL) { /* trims in place, keeping A and B apart */
            if (c->trim_offsets) { bytelevel_trim_offsets(&cur_a, c->add_prefix_space); if (have_b) bytelevel_trim_offsets(&cur_b, c->add_prefix_space); }
            continue;
        }
        tk_encoding next = {0};
        apply_one(p->children[i], &cur_a, have_b ? &cur_b : NULL, add_special, &next);
        tk_enc_free(&cur_a); tk_enc_free(&cur_b);
        cur_a = next;
        have_b = false;
    }
    tk_enc_append(out, &cur_a);
    if (have_b) tk_enc_append(out, &cur_b);
    tk_enc_free(&cur_a); tk_enc_free(&cur_b);
}

/* ---------------------------------------------------------------- loading */

static adapt_status tok_pair(const cJSON *j, const char *key, const char *what, char **tok, int32_t *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    const cJSON *s = cJSON_GetArrayItem(v, 0), *n = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || !cJSON_IsString(s) || !cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > TK_MAX_ID)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: post_processor \"%s\" must be [token, id]", what, key);
    *tok = tk_strdup(s->valuestring);
    *id = (int32_t)n->valuedouble;
    return ADAPT_OK;
}

static adapt_status load_template(const cJSON *arr, const char *what, template_piece **out, size_t *n)
{
    if (!cJSON_IsArray(arr)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: TemplateProcessing needs \"single\" and \"pair\" arrays", what);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    *out = tk_alloc((cnt ? cnt : 1) * sizeof **out);
    memset(*out, 0, (cnt ? cnt : 1) * sizeof **out);
    *n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        template_piece *t = &(*out)[(*n)++];
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken"), *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *body = sp ? sp : sq;
        const char *id; long long type_id = 0;
        if (!body) return adapt_fail(ADAPT_ERR_FORMAT, "%s: template piece is neither SpecialToken nor Sequence", what);
        TRY(json_get_str(body, "id", what, &id));
        TRY(json_get_int_opt(body, "type_id", 0, 1 << 20, what, &type_id));
        t->type_id = (int32_t)type_id;
        t->is_special = sp != NULL;
        if (sp) t->special_id = tk_strdup(id);
        else if (!strcmp(id, "A")) t->seq = 0;
        else if (!strcmp(id, "B")) t->seq = 1;
        else return adapt_fail(ADAPT_ERR_FORMAT, "%s: template sequence id must be \"A\" or \"B\", got \"%s\"", what, id);
    }
    return ADAPT_OK;
}

static adapt_status load_specials(postprocessor *p, const cJSON *j, const char *what)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    if (!st || cJSON_IsNull(st)) return ADAPT_OK;
    if (!cJSON_IsObject(st)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"special_tokens\" must be an object", what);
    size_t cnt = (size_t)cJSON_GetArraySize(st);
    p->specials = tk_alloc((cnt ? cnt : 1) * sizeof *p->specials);
    memset(p->specials, 0, (cnt ? cnt : 1) * sizeof *p->specials);
    const cJSON *it;
    cJSON_ArrayForEach(it, st) {
        special_entry *s = &p->specials[p->n_specials++];
        const char *name;
        TRY(json_get_str(it, "id", what, &name));
        s->name = tk_strdup(name);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(it, "ids"), *toks = cJSON_GetObjectItemCaseSensitive(it, "tokens");
        if (!cJSON_IsArray(ids) || !cJSON_IsArray(toks) || cJSON_GetArraySize(ids) != cJSON_GetArraySize(toks))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: special token \"%s\" needs \"ids\" and \"tokens\" of equal length", what, name);
        size_t n = (size_t)cJSON_GetArraySize(ids);
        s->ids = tk_alloc((n ? n : 1) * sizeof *s->ids);
        s->tokens = tk_alloc((n ? n : 1) * sizeof *s->tokens);
        for (size_t k = 0; k < n; k++) {
            const cJSON *a = cJSON_GetArrayItem(ids, (int)k), *b = cJSON_GetArrayItem(toks, (int)k);
            if (!cJSON_IsNumber(a) || a->valuedouble < 0 || a->valuedouble > TK_MAX_ID || !cJSON_IsString(b))
                return adapt_fail(ADAPT_ERR_FORMAT, "%s: special token \"%s\" has a bad id or token", what, name);
            s->ids[k] = (int32_t)a->valuedouble;
            s->tokens[k] = tk_strdup(b->valuestring);
            s->n = k + 1;
        }
    }
    return ADAPT_OK;
}

static adapt_status load_post(postprocessor *p, const cJSON *j, const char *what, int depth)
{
    switch (p->kind) {
    case POST_BERT:
        TRY(tok_pair(j, "sep", what, &p->sep_tok, &p->sep_id));
        return tok_pair(j, "cls", what, &p->cls_tok, &p->cls_id);
    case POST_ROBERTA:
        p->trim_offsets = true; p->add_prefix_space = true;
        TRY(json_get_bool_opt(j, "trim_offsets", what, &p->trim_offsets));
        TRY(json_get_bool_opt(j, "add_prefix_space", what, &p->add_prefix_space));
        TRY(tok_pair(j, "sep", what, &p->sep_tok, &p->sep_id));
        return tok_pair(j, "cls", what, &p->cls_tok, &p->cls_id);
    case POST_BYTELEVEL:
        p->trim_offsets = true; p->add_prefix_space = true;
        TRY(json_get_bool_opt(j, "trim_offsets", what, &p->trim_offsets));
        return json_get_bool_opt(j, "add_prefix_space", what, &p->add_prefix_space);
    case POST_TEMPLATE:
        TRY(load_template(cJSON_GetObjectItemCaseSensitive(j, "single"), what, &p->single, &p->n_single));
        TRY(load_template(cJSON_GetObjectItemCaseSensitive(j, "pair"), what, &p->pair, &p->n_pair));
        TRY(load_specials(p, j, what));
        for (size_t i = 0; i < p->n_single + p->n_pair; i++) {
            const template_piece *t = i < p->n_single ? &p->single[i] : &p->pair[i - p->n_single];
            if (t->is_special && !find_special(p, t->special_id))
                return adapt_fail(ADAPT_ERR_FORMAT, "%s: template uses special token \"%s\" missing from special_tokens", what, t->special_id);
        }
        return ADAPT_OK;
    case POST_SEQUENCE: {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "processors");
        if (!cJSON_IsArray(list)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Sequence post-processor needs \"processors\"", what);
        size_t cnt = (size_t)cJSON_GetArraySize(list);
        p->children = tk_alloc((cnt ? cnt : 1) * sizeof *p->children);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            postprocessor *c;
            TRY(postprocessor_from_json(it, what, depth + 1, &c));
            if (c) p->children[p->n_children++] = c;
        }
        return ADAPT_OK;
    }
    }
    return ADAPT_OK;
}

adapt_status postprocessor_from_json(const cJSON *j, const char *what, int depth, postprocessor **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (depth > TK_MAX_DEPTH) return adapt_fail(ADAPT_ERR_FORMAT, "%s: post-processors nested too deeply", what);
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: post_processor must be an object", what);
    const char *type;
    TRY(json_get_str(j, "type", what, &type));
    post_kind kind;
    if (!strcmp(type, "BertProcessing")) kind = POST_BERT;
    else if (!strcmp(type, "RobertaProcessing")) kind = POST_ROBERTA;
    else if (!strcmp(type, "TemplateProcessing")) kind = POST_TEMPLATE;
    else if (!strcmp(type, "ByteLevel")) kind = POST_BYTELEVEL;
    else if (!strcmp(type, "Sequence")) kind = POST_SEQUENCE;
    else return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: unsupported post-processor type \"%s\"", what, type);
    postprocessor *p = tk_alloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->kind = kind;
    adapt_status st = load_post(p, j, what, depth);
    if (st) { postprocessor_free(p); return st; }
    *out = p;
    return ADAPT_OK;
}
