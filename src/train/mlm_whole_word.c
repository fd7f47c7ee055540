/* Whole-word masking (see mlm_data.h): the word-start table of a vocabulary, and the masking. */
#include "core/error.h"
#include "core/random.h"
#include "train/mlm_data.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MARK_G, MARK_SPIECE, MARK_HASHES, N_MARKS };
static const char *const markers[N_MARKS] = {"\xc4\xa0", "\xe2\x96\x81", "##"}; /* Ġ, ▁, ## */

adapt_status mlm_word_starts(const adapt_tokenizer *tok, int32_t vocab, uint8_t **word_start)
{
    *word_start = NULL;
    size_t count[N_MARKS] = {0};
    for (int32_t id = 0; id < vocab; id++) {
        const char *t = adapt_tokenizer_id_to_token(tok, id);
        for (int k = 0; t && k < N_MARKS; k++) count[k] += !strncmp(t, markers[k], strlen(markers[k]));
    }
    int mark = 0;
    for (int k = 1; k < N_MARKS; k++)
        if (count[k] > count[mark]) mark = k;
    if (!count[mark])
        return adapt_fail(ADAPT_ERR_ARG, "--whole-word-mask: the tokenizer's vocabulary marks no word boundaries "
                                         "(no token starts with \"\xc4\xa0\", \"\xe2\x96\x81\" or \"##\")");
    uint8_t *ws = malloc((size_t)vocab);
    if (!ws) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int32_t id = 0; id < vocab; id++) {
        const char *t = adapt_tokenizer_id_to_token(tok, id);
        bool marked = t && !strncmp(t, markers[mark], strlen(markers[mark]));
        ws[id] = !t || (mark == MARK_HASHES ? !marked : marked); /* ids without a token: on their own */
    }
    *word_start = ws;
    return ADAPT_OK;
}

/* The words of one row: word w covers tokens [start[w], start[w] + len[w]); specials and padding
 * end words and belong to none. Returns the number of words; *n_real counts the row's tokens. */
static int row_words(const batch *b, int r, const mlm_special *sp, const uint8_t *word_start, int *start, int *len, int *n_real)
{
    int n = 0;
    bool open = false;
    *n_real = 0;
    for (int t = 0; t < b->T; t++) {
        size_t i = (size_t)r * b->T + t;
        *n_real += b->mask[i] != 0;
        int32_t id = b->ids[i];
        if (!b->mask[i] || mlm_is_special(sp, id)) {
            open = false;
            continue;
        }
        if (!open || word_start[id]) {
            start[n] = t;
            len[n++] = 0;
            open = true;
        }
        len[n - 1]++;
    }
    return n;
}

adapt_status mlm_mask_batch_words(batch *b, const mlm_special *sp, const uint8_t *word_start, double probability, uint64_t *rng,
                                  size_t *n_masked)
{
    size_t n = (size_t)b->B * b->T, masked = 0;
    for (size_t i = 0; i < n; i++) b->labels[i] = -100;
    int *start = malloc((size_t)b->T * 3 * sizeof(int));
    if (!start) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for whole-word masking");
    int *len = start + b->T, *order = len + b->T;
    int first_start = -1, first_len = 0; /* the batch's first word, for the fallback below */
    for (int r = 0; r < b->B; r++) {
        int n_real, words = row_words(b, r, sp, word_start, start, len, &n_real);
        if (words && first_start < 0) first_start = r * b->T + start[0], first_len = len[0];
        /* as the collator: the goal counts the row's special tokens too */
        int goal = (int)lround(n_real * probability), covered = 0;
        if (goal < 1) goal = 1;
        for (int w = 0; w < words; w++) order[w] = w;
        for (int w = words - 1; w > 0; w--) {
            int j = (int)(adapt_rng_next(rng) % (uint64_t)(w + 1)), x = order[w];
            order[w] = order[j];
            order[j] = x;
        }
        for (int k = 0; k < words && covered < goal; k++) {
            int w = order[k];
            if (covered + len[w] > goal) continue;
            for (int t = start[w]; t < start[w] + len[w]; t++) mlm_corrupt(b, (size_t)r * b->T + t, sp, rng);
            covered += len[w];
        }
        masked += (size_t)covered;
    }
    free(start);
    if (!masked && first_start >= 0) { /* no word fitted the goal anywhere: mask the first word, as a batch must predict */
        for (int i = first_start, c = 0; c < first_len; i++, c++) {
            b->labels[i] = b->ids[i];
            b->ids[i] = sp->mask;
        }
        masked = (size_t)first_len;
    }
    *n_masked = masked;
    return ADAPT_OK;
}
