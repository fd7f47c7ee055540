#include "tokenize/tokenizer.h"
#include "core/error.h"
adapt_status adapt_tokenizer_train(const adapt_tokenizer_train_options *opt, const char *const *files, size_t n_files, const char *output)
{
    (void)opt; (void)files; (void)n_files; (void)output;
    return adapt_fail(ADAPT_ERR_UNSUPPORTED, "not yet");
}
