/* Standard base64 decoding (the precompiled charsmap is stored this way in tokenizer.json). */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

adapt_status base64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(in);
    unsigned char *o = tk_alloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0; int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=' || c == '\n' || c == '\r') continue;
        else { free(o); return adapt_fail(ADAPT_ERR_FORMAT, "bad base64 character 0x%02x at %zu", c, i); }
        acc = (acc << 6) | (uint32_t)v; bits += 6;
        if (bits >= 8) { bits -= 8; o[n++] = (unsigned char)(acc >> bits); }
    }
    *out = o; *out_len = n;
    return ADAPT_OK;
}
