/* Tokenizer loading and encoding: the first byte picks the file kind ((b & 3) % 3: tokenizer.json,
 * vocab.txt, SentencePiece .model) and the encoding options (truncation, padding, special tokens);
 * the rest is the file, FUZZ_SEP, a text, and optionally FUZZ_SEP and a pair text. An accepted
 * tokenizer encodes the text (and pair), a batch of both, and decodes the ids back. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t flags = data[0];
    fuzz_part p[3];
    size_t n = fuzz_split(data + 1, size - 1, p, 3);
    static const char *names[] = {"tokenizer.json", "vocab.txt", "sp.model"};
    const char *path = fuzz_write_file(names[(flags & 3) % 3], p[0].data, p[0].size);
    adapt_tokenizer *tok = NULL;
    if (fuzz_check(adapt_tokenizer_load(path, &tok), "adapt_tokenizer_load") != ADAPT_OK) return 0;
    char *text = n > 1 ? fuzz_strndup(p[1].data, p[1].size) : fuzz_strndup((const uint8_t *)"Hello world!", 12);
    char *pair = n > 2 ? fuzz_strndup(p[2].data, p[2].size) : NULL;
    size_t text_len = n > 1 ? p[1].size : 12;
    /* Long texts only make encoding slower (a word at a time); the loaders are the main target. */
    if (text_len > 1024) text[text_len = 1024] = 0;
    if (pair && strlen(pair) > 1024) pair[1024] = 0;
    bool special = flags & 4;
    if (flags & 8) adapt_tokenizer_set_truncation(tok, 1 + (flags >> 6), (adapt_truncation)((flags >> 4) % 3), flags & 128);
    if (flags & 16) adapt_tokenizer_set_padding(tok, true, (flags & 32) ? 0 : 16, (flags & 64) ? 8 : 0, flags & 128, 0, 0, "[PAD]");
    adapt_encoding enc;
    memset(&enc, 0, sizeof enc);
    if (fuzz_check(adapt_tokenizer_encode(tok, text, text_len, pair, pair ? strlen(pair) : 0, special, &enc), "encode") == ADAPT_OK) {
        for (size_t i = 0; i < enc.length; i++) {
            (void)adapt_tokenizer_id_to_token(tok, enc.ids[i]);
            if (enc.offsets[i][0] > enc.offsets[i][1]) abort();
        }
        char *dec = NULL;
        if (adapt_tokenizer_decode(tok, enc.ids, enc.length, flags & 1, &dec) == ADAPT_OK) {
            (void)adapt_tokenizer_token_to_id(tok, dec);
            free(dec);
        }
        adapt_encoding_free(&enc);
    }
    const char *texts[2] = {text, pair ? pair : "x"};
    const char *pairs[2] = {NULL, text};
    adapt_encoding batch[2];
    memset(batch, 0, sizeof batch);
    if (adapt_tokenizer_encode_batch(tok, 2, texts, pairs, special, batch) == ADAPT_OK) {
        adapt_encoding_free(&batch[0]);
        adapt_encoding_free(&batch[1]);
    }
    int32_t ids[4] = {0, 1, (int32_t)(flags * 7), -1};
    char *dec = NULL;
    if (adapt_tokenizer_decode(tok, ids, 4, false, &dec) == ADAPT_OK) free(dec);
    (void)adapt_tokenizer_vocab_size(tok);
    free(text);
    free(pair);
    adapt_tokenizer_free(tok);
    return 0;
}
