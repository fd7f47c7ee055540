/* Added tokens: found in the text before the model runs (leftmost-longest, as HF's Aho-Corasick
 * matcher), with the lstrip / rstrip / single_word rules of HF's AddedVocabulary::find_matches. */
#include "tokenize/tokenizer.h"
#include "tokenize/uchar.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void added_vocab_free(added_vocab *av)
{
    for (size_t i = 0; i < av->n; i++) {
        free(av->v[i].content); free(av->v[i].cps); free(av->v[i].norm_cps);
    }
    free(av->v);
    strmap_free(&av->by_content);
    memset(av, 0, sizeof *av);
}

/* Rust regex \w: alphabetic, marks, decimal digits, connector punctuation, joiners. */
static bool is_word_char(uint32_t c)
{
    if (c == 0x200C || c == 0x200D) return true;
    int k = uc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

/* Length of the longest token matching at position i, its index in *which; 0 if none. */
static size_t match_at(const added_vocab *av, bool normalized, const nstr *s, size_t i, size_t *which)
{
    size_t best = 0;
    for (size_t k = 0; k < av->n; k++) {
        const added_token *t = &av->v[k];
        if (t->normalized != normalized) continue;
        const uint32_t *p = normalized ? t->norm_cps : t->cps;
        size_t np = normalized ? t->norm_ncp : t->ncp;
        if (!np || np <= best || np > s->n - i || p[0] != s->c[i]) continue;
        if (!memcmp(p, s->c + i, np * sizeof *p)) { best = np; *which = k; }
    }
    return best;
}

static void split_one(const added_vocab *av, bool normalized, nstr *s, piece_list *out)
{
    size_t start_offset = 0, i = 0;
    while (i < s->n) {
        size_t which = 0, len = match_at(av, normalized, s, i, &which);
        if (!len) { i++; continue; }
        const added_token *t = &av->v[which];
        size_t start = i, stop = i + len;
        i = stop; /* the matcher resumes after the raw match, even when it is discarded */
        if (t->single_word) {
            bool start_space = start == 0 || !is_word_char(s->c[start - 1]);
            bool stop_space = stop == s->n || !is_word_char(s->c[stop]);
            if (!start_space || !stop_space) continue;
        }
        if (t->lstrip) {
            size_t ns = start;
            while (ns > 0 && uc_is_whitespace(s->c[ns - 1])) ns--;
            start = ns > start_offset ? ns : start_offset;
        }
        if (t->rstrip) while (stop < s->n && uc_is_whitespace(s->c[stop])) stop++;
        if (start < start_offset) start = start_offset; /* never overlap the previous match */
        if (start_offset < start) { nstr sub; nstr_slice(s, start_offset, start, &sub); piece_list_push(out, &sub, -1); }
        nstr sub; nstr_slice(s, start, stop, &sub); piece_list_push(out, &sub, t->id);
        start_offset = stop;
        if (i < stop) i = stop;
    }
    if (start_offset < s->n) { nstr sub; nstr_slice(s, start_offset, s->n, &sub); piece_list_push(out, &sub, -1); }
}

void added_split(const added_vocab *av, bool normalized, piece_list *l)
{
    bool any = false;
    for (size_t k = 0; k < av->n && !any; k++) any = av->v[k].normalized == normalized;
    piece_list out = {0};
    for (size_t i = 0; i < l->n; i++) {
        piece *p = &l->v[i];
        if (p->added_id >= 0) piece_list_push(&out, &p->s, p->added_id);
        else if (!p->s.n) nstr_free(&p->s); /* empty pieces vanish, as in HF */
        else if (!any) piece_list_push(&out, &p->s, -1);
        else { split_one(av, normalized, &p->s, &out); nstr_free(&p->s); }
    }
    free(l->v);
    *l = out;
}
