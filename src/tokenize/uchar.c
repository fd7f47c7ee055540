/* Character classes from utf8proc's Unicode data. */
#include "tokenize/uchar.h"
#include <utf8proc.h>

int uc_category(uint32_t c) { return c < 0x110000 ? utf8proc_category((utf8proc_int32_t)c) : UTF8PROC_CATEGORY_CN; }

bool uc_is_whitespace(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    if (c == 0x85) return true;
    int k = uc_category(c);
    return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

bool uc_is_punctuation(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    int k = uc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

bool uc_is_bert_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return false;
    int k = uc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CN ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
}

bool uc_is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool uc_is_alnum(uint32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = uc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

bool uc_is_digit(uint32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    int k = uc_category(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

bool uc_is_mark_nonspacing(uint32_t c) { return uc_category(c) == UTF8PROC_CATEGORY_MN; }

bool uc_is_mark(uint32_t c)
{
    int k = uc_category(c);
    return k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME;
}

int uc_lower(uint32_t c, uint32_t *out)
{
    if (c < 0x80) { out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c; return 1; }
    /* The one unconditional multi-char lowercase mapping of SpecialCasing.txt, which Rust applies
     * and utf8proc's simple mapping does not. */
    if (c == 0x130) { out[0] = 'i'; out[1] = 0x307; return 2; }
    out[0] = c < 0x110000 ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)c) : c;
    return 1;
}
