/* Element types of safetensors files and conversions between the float formats. */
#include "core/bf16.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include <math.h>
#include <string.h>

static const struct { const char *name; size_t size; } dtypes[ADAPT_DTYPE_COUNT] = {
    [ADAPT_DTYPE_BOOL] = {"BOOL", 1}, [ADAPT_DTYPE_U8] = {"U8", 1},     [ADAPT_DTYPE_I8] = {"I8", 1},
    [ADAPT_DTYPE_U16] = {"U16", 2},   [ADAPT_DTYPE_I16] = {"I16", 2},   [ADAPT_DTYPE_F16] = {"F16", 2},
    [ADAPT_DTYPE_BF16] = {"BF16", 2}, [ADAPT_DTYPE_U32] = {"U32", 4},   [ADAPT_DTYPE_I32] = {"I32", 4},
    [ADAPT_DTYPE_F32] = {"F32", 4},   [ADAPT_DTYPE_U64] = {"U64", 8},   [ADAPT_DTYPE_I64] = {"I64", 8},
    [ADAPT_DTYPE_F64] = {"F64", 8},   [ADAPT_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [ADAPT_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

size_t dtype_size(adapt_dtype dt) { return (unsigned)dt < ADAPT_DTYPE_COUNT ? dtypes[dt].size : 0; }
const char *dtype_name(adapt_dtype dt) { return (unsigned)dt < ADAPT_DTYPE_COUNT ? dtypes[dt].name : "?"; }

bool dtype_parse(const char *s, adapt_dtype *out)
{
    for (int i = 0; i < ADAPT_DTYPE_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (adapt_dtype)i;
            return true;
        }
    return false;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float bf16_to_f32(uint16_t h) { return bf16_widen(h); }
uint16_t f32_to_bf16(float f) { return bf16_round(f); }

float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f), sign = (u >> 16) & 0x8000u;
    float a = fabsf(f);
    if (isnan(f)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) { /* subnormal half: round a * 2^24 to nearest even */
        return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
    }
    uint32_t exp = ((u >> 23) & 0xff) - 112, man = u & 0x7fffffu;
    uint32_t half = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
    return (uint16_t)(sign | half);
}

static float f8_to_f32(uint8_t v, int exp_bits, int bias)
{
    int man_bits = 7 - exp_bits;
    int sign = v >> 7, exp = (v >> man_bits) & ((1 << exp_bits) - 1), man = v & ((1 << man_bits) - 1);
    float r;
    if (exp_bits == 4 && exp == 15 && man == 7) r = NAN; /* E4M3FN: only S.1111.111 is NaN */
    else if (exp_bits == 5 && exp == 31) r = man ? NAN : INFINITY;
    else if (exp == 0) r = ldexpf((float)man, 1 - bias - man_bits);
    else r = ldexpf(1.0f + (float)man / (float)(1 << man_bits), exp - bias);
    return sign ? -r : r;
}

adapt_status st_to_f32(const st_file *f, const st_tensor *t, float *out)
{
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ADAPT_DTYPE_F32: { float v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case ADAPT_DTYPE_F64: { double v; memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
        case ADAPT_DTYPE_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = bf16_to_f32(v); break; }
        case ADAPT_DTYPE_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = f16_to_f32(v); break; }
        case ADAPT_DTYPE_F8_E4M3: out[i] = f8_to_f32(p[i], 4, 7); break;
        case ADAPT_DTYPE_F8_E5M2: out[i] = f8_to_f32(p[i], 5, 15); break;
        case ADAPT_DTYPE_BOOL: case ADAPT_DTYPE_U8: out[i] = p[i]; break;
        case ADAPT_DTYPE_I8: out[i] = (int8_t)p[i]; break;
        case ADAPT_DTYPE_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case ADAPT_DTYPE_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case ADAPT_DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = (float)v; break; }
        case ADAPT_DTYPE_U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); out[i] = (float)v; break; }
        case ADAPT_DTYPE_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
        case ADAPT_DTYPE_U64: { uint64_t v; memcpy(&v, p + 8 * i, 8); out[i] = (float)v; break; }
        default: return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: tensor \"%s\": dtype cannot convert to F32", f->path, t->name);
        }
    }
    return ADAPT_OK;
}

adapt_status st_to_i64(const st_file *f, const st_tensor *t, int64_t *out)
{
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case ADAPT_DTYPE_I64: memcpy(&out[i], p + 8 * i, 8); break;
        case ADAPT_DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); out[i] = v; break; }
        case ADAPT_DTYPE_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); out[i] = v; break; }
        case ADAPT_DTYPE_I8: out[i] = (int8_t)p[i]; break;
        case ADAPT_DTYPE_U8: case ADAPT_DTYPE_BOOL: out[i] = p[i]; break;
        default: return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" has dtype %s, expected an integer type",
                                   f->path, t->name, dtype_name(t->dtype));
        }
    }
    return ADAPT_OK;
}
