/* torch.save archives: a zip reader for stored entries and a value-only pickle interpreter for
 * state dicts (see torch_zip.h). Every length, offset and count is checked against the bytes
 * actually present before it is used. */
#include "formats/torch_zip.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TORCH_MAX_FILE ((size_t)4 << 30)
#define ZIP_MAX_ENTRIES 100000
#define PK_MAX_STACK 100000
#define PK_MAX_MEMO 1000000
#define PK_MAX_ITEMS 10000000

/* ------------------------------------------------------------------ zip */
typedef struct zip_entry {
    char *name;
    const unsigned char *data;
    size_t size;
} zip_entry;

typedef struct zip_archive {
    zip_entry *e;
    size_t n;
} zip_archive;

static uint32_t rd16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | rd16(p + 2) << 16; }

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    static int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void zip_free(zip_archive *z)
{
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    z->e = NULL;
    z->n = 0;
}

static adapt_status zip_open(const unsigned char *f, size_t size, const char *path, zip_archive *z)
{
    memset(z, 0, sizeof *z);
    if (size < 22) return adapt_fail(ADAPT_ERR_FORMAT, "%s: not a zip archive (too short; torch.save writes zip files)", path);
    size_t eocd = SIZE_MAX;
    for (size_t i = size - 22 + 1; i-- > 0 && size - i <= 22 + 65535;)
        if (rd32(f + i) == 0x06054b50u && i + 22 + rd16(f + i + 20) == size) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX) return adapt_fail(ADAPT_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated or not a torch.save file)", path);
    const unsigned char *e = f + eocd;
    uint32_t entries = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != entries)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", path);
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: zip64 archives are not supported (adapter files are small)", path);
    if ((uint64_t)cd_off + cd_size > eocd)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: zip central directory (offset %u, %u bytes) lies outside the file", path, cd_off, cd_size);
    if (entries > ZIP_MAX_ENTRIES) return adapt_fail(ADAPT_ERR_FORMAT, "%s: %u zip entries is past the limit", path, entries);
    z->e = calloc(entries ? entries : 1, sizeof *z->e);
    if (!z->e) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    size_t p = cd_off, end = (size_t)cd_off + cd_size;
    for (uint32_t k = 0; k < entries; k++) {
        adapt_status st = ADAPT_OK;
        if (p + 46 > end || rd32(f + p) != 0x02014b50u) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip central directory entry %u is damaged", path, k);
            goto fail;
        }
        const unsigned char *c = f + p;
        uint32_t flags = rd16(c + 8), method = rd16(c + 10), crc = rd32(c + 16), csize = rd32(c + 20), usize = rd32(c + 24);
        uint32_t nlen = rd16(c + 28), elen = rd16(c + 30), clen = rd16(c + 32), lho = rd32(c + 42);
        if (p + 46 + (size_t)nlen + elen + clen > end) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip central directory entry %u runs past the directory", path, k);
            goto fail;
        }
        char *name = malloc(nlen + 1);
        if (!name) {
            st = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        memcpy(name, c + 46, nlen);
        name[nlen] = 0;
        z->e[z->n].name = name;
        z->n++;
        if (memchr(name, 0, nlen)) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip entry %u has a NUL in its name", path, k);
            goto fail;
        }
        if (flags & 1) {
            st = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: zip entry %s is encrypted", path, name);
            goto fail;
        }
        if (method != 0 || csize != usize) {
            st = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: zip entry %s is compressed (method %u); torch.save stores entries uncompressed", path,
                            name, method);
            goto fail;
        }
        if (csize == 0xFFFFFFFFu || lho == 0xFFFFFFFFu) {
            st = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: zip entry %s uses zip64 sizes, which are not supported", path, name);
            goto fail;
        }
        if ((uint64_t)lho + 30 > cd_off || rd32(f + lho) != 0x04034b50u) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip entry %s: local header offset %u is out of range or damaged", path, name, lho);
            goto fail;
        }
        const unsigned char *l = f + lho;
        uint32_t lnlen = rd16(l + 26), lelen = rd16(l + 28);
        uint64_t data = (uint64_t)lho + 30 + lnlen + lelen;
        if (lnlen != nlen || data > cd_off || memcmp(l + 30, name, nlen) != 0) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip entry %s: local header does not match the central directory", path, name);
            goto fail;
        }
        if (data + csize > cd_off) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip entry %s: %u bytes at offset %llu run past the entries (truncated file?)", path, name,
                            csize, (unsigned long long)data);
            goto fail;
        }
        if (crc32_of(f + data, csize) != crc) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: zip entry %s: CRC-32 mismatch (damaged file)", path, name);
            goto fail;
        }
        z->e[z->n - 1].data = f + data;
        z->e[z->n - 1].size = csize;
        p += 46 + (size_t)nlen + elen + clen;
        continue;
    fail:
        zip_free(z);
        return st;
    }
    return ADAPT_OK;
}

static const zip_entry *zip_find(const zip_archive *z, const char *name)
{
    for (size_t i = 0; i < z->n; i++)
        if (!strcmp(z->e[i].name, name)) return &z->e[i];
    return NULL;
}

/* ------------------------------------------------------------------ pickle values */
typedef enum pk_kind {
    PK_MARK, PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR
} pk_kind;

typedef enum pk_global { G_ORDEREDDICT, G_REBUILD_TENSOR_V2, G_FLOAT_STORAGE, G_HALF_STORAGE, G_BF16_STORAGE } pk_global;

typedef struct pk_val {
    pk_kind kind;
    int64_t i;                 /* INT, BOOL; GLOBAL: pk_global */
    double f;
    char *s;                   /* STR; STORAGE: key */
    struct pk_val **items;     /* TUPLE, LIST; DICT: key, value pairs */
    size_t n, cap;
    /* STORAGE */
    adapt_dtype dtype;
    const unsigned char *bytes;
    size_t nbytes;
    int64_t numel;
    /* TENSOR */
    struct pk_val *storage;
    int64_t offset;
    int ndim;
    int64_t shape[ADAPT_MAX_DIMS], stride[ADAPT_MAX_DIMS];
} pk_val;

typedef struct pk {
    const char *path;
    const unsigned char *p, *end;
    const zip_archive *zip;
    const char *prefix;        /* the archive's folder name */
    pk_val **all;              /* every value, for freeing */
    size_t n_all, cap_all;
    pk_val **stack;
    size_t sp;
    pk_val **memo;
    size_t n_memo, memo_count; /* slots, and slots set (MEMOIZE's next index) */
    size_t items;              /* container items so far (bounded) */
} pk;

static adapt_status bad(pk *k, const char *what)
{
    return adapt_fail(ADAPT_ERR_FORMAT, "%s: data.pkl: %s", k->path, what);
}

static pk_val *val_new(pk *k, pk_kind kind)
{
    if (k->n_all == k->cap_all) {
        size_t cap = k->cap_all ? 2 * k->cap_all : 256;
        pk_val **a = realloc(k->all, cap * sizeof *a);
        if (!a) return NULL;
        k->all = a;
        k->cap_all = cap;
    }
    pk_val *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    k->all[k->n_all++] = v;
    return v;
}

static adapt_status push(pk *k, pk_val *v)
{
    if (!v) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
    if (k->sp == PK_MAX_STACK) return bad(k, "pickle stack too deep");
    k->stack[k->sp++] = v;
    return ADAPT_OK;
}

static adapt_status pop(pk *k, pk_val **out)
{
    if (!k->sp || k->stack[k->sp - 1]->kind == PK_MARK) return bad(k, "pickle stack underflow");
    *out = k->stack[--k->sp];
    return ADAPT_OK;
}

static adapt_status add_item(pk *k, pk_val *c, pk_val *v)
{
    if (++k->items > PK_MAX_ITEMS) return bad(k, "too many container items");
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        pk_val **a = realloc(c->items, cap * sizeof *a);
        if (!a) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
        c->items = a;
        c->cap = cap;
    }
    c->items[c->n++] = v;
    return ADAPT_OK;
}

/* The values above the topmost MARK, which is removed; *first indexes the first of them. */
static adapt_status pop_mark(pk *k, size_t *first)
{
    size_t i = k->sp;
    while (i > 0 && k->stack[i - 1]->kind != PK_MARK) i--;
    if (i == 0) return bad(k, "no MARK on the stack");
    *first = i; /* stack[i - 1] is the mark */
    return ADAPT_OK;
}

static adapt_status need(pk *k, size_t n)
{
    return (size_t)(k->end - k->p) < n ? bad(k, "truncated pickle") : ADAPT_OK;
}

static adapt_status read_line(pk *k, char *out, size_t size)
{
    const unsigned char *nl = memchr(k->p, '\n', (size_t)(k->end - k->p));
    if (!nl) return bad(k, "truncated GLOBAL");
    size_t n = (size_t)(nl - k->p);
    if (n >= size) return bad(k, "GLOBAL name too long");
    memcpy(out, k->p, n);
    out[n] = 0;
    k->p = nl + 1;
    return ADAPT_OK;
}

/* Only these callables exist; anything else is refused by name. */
static adapt_status make_global(pk *k, const char *module, const char *name)
{
    static const struct { const char *module, *name; pk_global g; } allowed[] = {
        {"collections", "OrderedDict", G_ORDEREDDICT},
        {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2},
        {"torch", "FloatStorage", G_FLOAT_STORAGE},
        {"torch", "HalfStorage", G_HALF_STORAGE},
        {"torch", "BFloat16Storage", G_BF16_STORAGE},
    };
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if (!strcmp(module, allowed[i].module) && !strcmp(name, allowed[i].name)) {
            pk_val *v = val_new(k, PK_GLOBAL);
            if (v) v->i = allowed[i].g;
            return push(k, v);
        }
    return adapt_fail(ADAPT_ERR_UNSUPPORTED,
                      "%s: data.pkl refers to %.100s.%.100s, which is not part of a plain state dict of float tensors (refused; "
                      "only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and Float/Half/BFloat16 storages are read)",
                      k->path, module, name);
}

static adapt_status push_str(pk *k, size_t n)
{
    TRY(need(k, n));
    pk_val *v = val_new(k, PK_STR);
    if (!v || !(v->s = malloc(n + 1))) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
    memcpy(v->s, k->p, n);
    v->s[n] = 0;
    v->n = 0;
    v->i = (int64_t)n;
    k->p += n;
    if (strlen(v->s) != n) return bad(k, "string with a NUL byte");
    return push(k, v);
}

static adapt_status push_int(pk *k, int64_t x)
{
    pk_val *v = val_new(k, PK_INT);
    if (v) v->i = x;
    return push(k, v);
}

static adapt_status memo_put(pk *k, size_t idx)
{
    if (!k->sp) return bad(k, "memo of an empty stack");
    if (idx >= PK_MAX_MEMO) return bad(k, "memo index out of range");
    if (idx >= k->n_memo) {
        size_t n = idx + 1 > 2 * k->n_memo ? idx + 1 : 2 * k->n_memo;
        pk_val **m = realloc(k->memo, n * sizeof *m);
        if (!m) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
        memset(m + k->n_memo, 0, (n - k->n_memo) * sizeof *m);
        k->memo = m;
        k->n_memo = n;
    }
    if (!k->memo[idx]) k->memo_count++;
    k->memo[idx] = k->stack[k->sp - 1];
    return ADAPT_OK;
}

static adapt_status memo_get(pk *k, size_t idx)
{
    if (idx >= k->n_memo || !k->memo[idx]) return bad(k, "memo index not set");
    return push(k, k->memo[idx]);
}

/* BINPERSID ('storage', <Storage class>, key, location, numel) -> the storage's bytes. */
static adapt_status persistent_load(pk *k, pk_val *pid)
{
    if (pid->kind != PK_TUPLE || pid->n != 5 || pid->items[0]->kind != PK_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != PK_GLOBAL || pid->items[1]->i < G_FLOAT_STORAGE || pid->items[2]->kind != PK_STR ||
        pid->items[4]->kind != PK_INT)
        return bad(k, "persistent id is not ('storage', <Float|Half|BFloat16 storage>, key, location, numel)");
    pk_val *s = val_new(k, PK_STORAGE);
    if (!s) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
    s->dtype = pid->items[1]->i == G_FLOAT_STORAGE ? ADAPT_DTYPE_F32 : pid->items[1]->i == G_HALF_STORAGE ? ADAPT_DTYPE_F16 : ADAPT_DTYPE_BF16;
    s->numel = pid->items[4]->i;
    const char *key = pid->items[2]->s;
    char name[512];
    if (snprintf(name, sizeof name, "%s/data/%s", k->prefix, key) >= (int)sizeof name) return bad(k, "storage key too long");
    const zip_entry *e = zip_find(k->zip, name);
    if (!e) return adapt_fail(ADAPT_ERR_FORMAT, "%s: storage %s (data/%s) is not in the archive", k->path, key, key);
    size_t es = dtype_size(s->dtype);
    if (s->numel < 0 || (uint64_t)s->numel > e->size / es)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: storage %s declares %lld elements, its entry holds %zu bytes", k->path, key,
                          (long long)s->numel, e->size);
    s->bytes = e->data;
    s->nbytes = (size_t)s->numel * es;
    return push(k, s);
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
static adapt_status rebuild_tensor(pk *k, pk_val *args)
{
    if (args->kind != PK_TUPLE || args->n < 4 || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT ||
        args->items[2]->kind != PK_TUPLE || args->items[3]->kind != PK_TUPLE || args->items[2]->n != args->items[3]->n)
        return bad(k, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)");
    pk_val *t = val_new(k, PK_TENSOR);
    if (!t) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
    pk_val *st = args->items[0], *size = args->items[2], *stride = args->items[3];
    if (size->n > ADAPT_MAX_DIMS) return bad(k, "tensor has too many dimensions");
    t->storage = st;
    t->offset = args->items[1]->i;
    t->ndim = (int)size->n;
    /* Highest element index reached: offset + sum (size-1) * stride, without overflow. */
    int64_t numel = 1, last = t->offset;
    bool empty = false;
    for (int d = 0; d < t->ndim; d++) {
        if (size->items[d]->kind != PK_INT || stride->items[d]->kind != PK_INT) return bad(k, "tensor size / stride is not integers");
        int64_t n = size->items[d]->i, s = stride->items[d]->i;
        if (n < 0 || s < 0 || n > ((int64_t)1 << 40) || s > ((int64_t)1 << 40)) return bad(k, "tensor size / stride out of range");
        t->shape[d] = n;
        t->stride[d] = s;
        if (n == 0) empty = true;
        if (!empty) {
            if (numel > ((int64_t)1 << 40) / (n ? n : 1)) return bad(k, "tensor too large");
            numel *= n;
            last += (n - 1) * s;
            if (last > ((int64_t)1 << 42)) return bad(k, "tensor extent too large");
        }
    }
    if (t->offset < 0 || (!empty && last >= st->numel))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: a tensor reaches element %lld of a storage of %lld elements", k->path, (long long)last,
                          (long long)st->numel);
    return push(k, t);
}

static adapt_status run_pickle(pk *k, pk_val **result)
{
    for (;;) {
        TRY(need(k, 1));
        unsigned op = *k->p++;
        pk_val *a, *b, *v;
        size_t first;
        switch (op) {
        case 0x80: TRY(need(k, 1)); if (*k->p > 5) return bad(k, "unknown pickle protocol"); k->p++; break; /* PROTO */
        case 0x95: TRY(need(k, 8)); k->p += 8; break;                                                          /* FRAME */
        case '.': TRY(pop(k, result)); return ADAPT_OK;                                                      /* STOP */
        case '(': TRY(push(k, val_new(k, PK_MARK))); break;
        case 'N': TRY(push(k, val_new(k, PK_NONE))); break;
        case 0x88: case 0x89: TRY(push_int(k, op == 0x88)); k->stack[k->sp - 1]->kind = PK_BOOL; break;
        case 'K': TRY(need(k, 1)); TRY(push_int(k, k->p[0])); k->p += 1; break;
        case 'M': TRY(need(k, 2)); TRY(push_int(k, rd16(k->p))); k->p += 2; break;
        case 'J': TRY(need(k, 4)); TRY(push_int(k, (int32_t)rd32(k->p))); k->p += 4; break;
        case 0x8a: { /* LONG1 */
            TRY(need(k, 1));
            unsigned n = *k->p++;
            if (n > 8) return bad(k, "integer too large");
            TRY(need(k, n));
            uint64_t x = 0;
            for (unsigned i = 0; i < n; i++) x |= (uint64_t)k->p[i] << (8 * i);
            if (n && n < 8 && (k->p[n - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * n);
            k->p += n;
            TRY(push_int(k, (int64_t)x));
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            TRY(need(k, 8));
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x = x << 8 | k->p[i];
            k->p += 8;
            TRY(push(k, v = val_new(k, PK_FLOAT)));
            memcpy(&v->f, &x, sizeof x);
            break;
        }
        case 'X': TRY(need(k, 4)); { size_t n = rd32(k->p); k->p += 4; TRY(push_str(k, n)); } break;   /* BINUNICODE */
        case 'T': TRY(need(k, 4)); { size_t n = rd32(k->p); k->p += 4; TRY(push_str(k, n)); } break;   /* BINSTRING */
        case 0x8c: case 'U': TRY(need(k, 1)); { size_t n = *k->p++; TRY(push_str(k, n)); } break;     /* SHORT_BINUNICODE / STRING */
        case 'c': { /* GLOBAL module\nname\n */
            char module[128], name[128];
            TRY(read_line(k, module, sizeof module));
            TRY(read_line(k, name, sizeof name));
            TRY(make_global(k, module, name));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            TRY(pop(k, &b));
            TRY(pop(k, &a));
            if (a->kind != PK_STR || b->kind != PK_STR) return bad(k, "STACK_GLOBAL needs two strings");
            TRY(make_global(k, a->s, b->s));
            break;
        case '}': TRY(push(k, val_new(k, PK_DICT))); break;
        case ']': TRY(push(k, val_new(k, PK_LIST))); break;
        case ')': TRY(push(k, val_new(k, PK_TUPLE))); break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = op - 0x84;
            if (k->sp < n) return bad(k, "pickle stack underflow");
            v = val_new(k, PK_TUPLE);
            if (!v) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
            for (size_t i = k->sp - n; i < k->sp; i++) {
                if (k->stack[i]->kind == PK_MARK) return bad(k, "MARK inside a tuple");
                TRY(add_item(k, v, k->stack[i]));
            }
            k->sp -= n;
            TRY(push(k, v));
            break;
        }
        case 't': case 'l': case 'd': /* TUPLE / LIST / DICT from the mark */
            TRY(pop_mark(k, &first));
            v = val_new(k, op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_DICT);
            if (!v) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", k->path);
            if (op == 'd' && (k->sp - first) % 2) return bad(k, "DICT with an odd number of items");
            for (size_t i = first; i < k->sp; i++) TRY(add_item(k, v, k->stack[i]));
            k->sp = first - 1;
            TRY(push(k, v));
            break;
        case 'a': /* APPEND */
            TRY(pop(k, &a));
            if (!k->sp || k->stack[k->sp - 1]->kind != PK_LIST) return bad(k, "APPEND to a non-list");
            TRY(add_item(k, k->stack[k->sp - 1], a));
            break;
        case 'e': /* APPENDS */
            TRY(pop_mark(k, &first));
            if (first < 2 || k->stack[first - 2]->kind != PK_LIST) return bad(k, "APPENDS to a non-list");
            for (size_t i = first; i < k->sp; i++) TRY(add_item(k, k->stack[first - 2], k->stack[i]));
            k->sp = first - 1;
            break;
        case 's': /* SETITEM */
            TRY(pop(k, &b));
            TRY(pop(k, &a));
            if (!k->sp || k->stack[k->sp - 1]->kind != PK_DICT) return bad(k, "SETITEM on a non-dict");
            TRY(add_item(k, k->stack[k->sp - 1], a));
            TRY(add_item(k, k->stack[k->sp - 1], b));
            break;
        case 'u': /* SETITEMS */
            TRY(pop_mark(k, &first));
            if (first < 2 || k->stack[first - 2]->kind != PK_DICT) return bad(k, "SETITEMS on a non-dict");
            if ((k->sp - first) % 2) return bad(k, "SETITEMS with an odd number of items");
            for (size_t i = first; i < k->sp; i++) TRY(add_item(k, k->stack[first - 2], k->stack[i]));
            k->sp = first - 1;
            break;
        case 'q': TRY(need(k, 1)); TRY(memo_put(k, k->p[0])); k->p += 1; break;
        case 'r': TRY(need(k, 4)); TRY(memo_put(k, rd32(k->p))); k->p += 4; break;
        case 0x94: TRY(memo_put(k, k->memo_count)); break; /* MEMOIZE: the next index */
        case 'h': TRY(need(k, 1)); TRY(memo_get(k, k->p[0])); k->p += 1; break;
        case 'j': TRY(need(k, 4)); TRY(memo_get(k, rd32(k->p))); k->p += 4; break;
        case 'Q': TRY(pop(k, &a)); TRY(persistent_load(k, a)); break; /* BINPERSID */
        case 'R': /* REDUCE */
            TRY(pop(k, &b));
            TRY(pop(k, &a));
            if (a->kind != PK_GLOBAL || b->kind != PK_TUPLE) return bad(k, "REDUCE of something that is not an allowed callable");
            if (a->i == G_ORDEREDDICT) {
                if (b->n) return bad(k, "OrderedDict with arguments");
                TRY(push(k, val_new(k, PK_DICT)));
            } else if (a->i == G_REBUILD_TENSOR_V2) {
                TRY(rebuild_tensor(k, b));
            } else {
                return bad(k, "storages are only read through persistent ids");
            }
            break;
        case 'b': /* BUILD: attributes of an OrderedDict (state_dict's _metadata) carry no tensors */
            TRY(pop(k, &b));
            if (!k->sp || k->stack[k->sp - 1]->kind != PK_DICT || (b->kind != PK_DICT && b->kind != PK_NONE))
                return bad(k, "BUILD on something other than a dict");
            break;
        case '0': TRY(pop(k, &a)); break; /* POP */
        default: {
            char msg[64];
            snprintf(msg, sizeof msg, "unsupported pickle opcode 0x%02x", op);
            return bad(k, msg);
        }
        }
    }
}

static void pk_free(pk *k)
{
    for (size_t i = 0; i < k->n_all; i++) {
        free(k->all[i]->s);
        free(k->all[i]->items);
        free(k->all[i]);
    }
    free(k->all);
    free(k->stack);
    free(k->memo);
}

void torch_tensors_free(torch_tensor *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].name);
        free(t[i].data);
    }
    free(t);
}

/* A row-major copy of a (possibly strided) tensor view. */
static adapt_status copy_tensor(const pk_val *v, const char *name, const char *path, torch_tensor *out)
{
    size_t es = dtype_size(v->storage->dtype), numel = 1;
    for (int d = 0; d < v->ndim; d++) numel *= (size_t)v->shape[d];
    out->name = strdup(name);
    out->dtype = v->storage->dtype;
    out->ndim = v->ndim;
    memcpy(out->shape, v->shape, sizeof out->shape);
    out->nbytes = numel * es;
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->name || !out->data) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    int64_t idx[ADAPT_MAX_DIMS] = {0};
    for (size_t i = 0; i < numel; i++) {
        int64_t off = v->offset;
        for (int d = 0; d < v->ndim; d++) off += idx[d] * v->stride[d];
        memcpy((unsigned char *)out->data + i * es, v->storage->bytes + (size_t)off * es, es);
        for (int d = v->ndim - 1; d >= 0; d--) {
            if (++idx[d] < v->shape[d]) break;
            idx[d] = 0;
        }
    }
    return ADAPT_OK;
}

adapt_status torch_state_dict_parse(const unsigned char *file, size_t size, const char *path, torch_tensor **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (size >= 2 && file[0] == 0x80 && file[1] <= 5)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: a legacy (pre-1.6, non-zip) torch.save file; re-save it with a current torch", path);
    zip_archive z;
    TRY(zip_open(file, size, path, &z));
    const zip_entry *pkl = NULL;
    for (size_t i = 0; i < z.n; i++) {
        size_t len = strlen(z.e[i].name);
        const char *slash = strchr(z.e[i].name, '/');
        if (len > 9 && !strcmp(z.e[i].name + len - 9, "/data.pkl") && slash == z.e[i].name + len - 9) {
            if (pkl) {
                zip_free(&z);
                return adapt_fail(ADAPT_ERR_FORMAT, "%s: more than one data.pkl in the archive", path);
            }
            pkl = &z.e[i];
        }
    }
    if (!pkl) {
        zip_free(&z);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: no <name>/data.pkl in the archive (not a torch.save file)", path);
    }
    char prefix[256];
    size_t plen = strlen(pkl->name) - 9;
    if (plen >= sizeof prefix) {
        zip_free(&z);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: archive folder name too long", path);
    }
    memcpy(prefix, pkl->name, plen);
    prefix[plen] = 0;
    pk k = {.path = path, .p = pkl->data, .end = pkl->data + pkl->size, .zip = &z, .prefix = prefix};
    k.stack = malloc(PK_MAX_STACK * sizeof *k.stack);
    adapt_status st = k.stack ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    pk_val *root = NULL;
    if (!st) st = run_pickle(&k, &root);
    if (!st && root->kind != PK_DICT) st = bad(&k, "the pickled object is not a dict (state dict)");
    torch_tensor *ts = NULL;
    size_t nt = 0;
    if (!st) {
        ts = calloc(root->n / 2 + 1, sizeof *ts);
        if (!ts) st = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; !st && i + 1 < root->n; i += 2) {
        const pk_val *key = root->items[i], *val = root->items[i + 1];
        if (key->kind != PK_STR) st = bad(&k, "a state dict key is not a string");
        else if (val->kind != PK_TENSOR) st = adapt_fail(ADAPT_ERR_FORMAT, "%s: state dict entry %.200s is not a tensor", path, key->s);
        else {
            for (size_t j = 0; j < nt && !st; j++)
                if (!strcmp(ts[j].name, key->s)) st = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor %.200s appears twice", path, key->s);
            if (!st) st = copy_tensor(val, key->s, path, &ts[nt]);
            nt++;
        }
    }
    pk_free(&k);
    zip_free(&z);
    if (st) {
        torch_tensors_free(ts, nt);
        return st;
    }
    *out = ts;
    *n_out = nt;
    return ADAPT_OK;
}

adapt_status torch_state_dict_load(const char *path, torch_tensor **out, size_t *n)
{
    char *data = NULL;
    size_t len = 0;
    TRY(file_read_all(path, TORCH_MAX_FILE, &data, &len));
    adapt_status st = torch_state_dict_parse((const unsigned char *)data, len, path, out, n);
    free(data);
    return st;
}

/* ------------------------------------------------------------------ adapt convert */
static adapt_status copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    TRY(file_read_all(from, (size_t)64 << 20, &data, &len));
    adapt_status st = file_write_atomic(to, data, len);
    free(data);
    return st;
}

adapt_status torch_convert_adapter_dir(const char *in_dir, const char *out_dir, int *converted)
{
    static const char *const pairs[][2] = {
        {"pytorch_adapter.bin", "adapter.safetensors"},
        {"pytorch_model_head.bin", "model_head.safetensors"},
        {"pytorch_model_adapter_fusion.bin", "model_adapter_fusion.safetensors"},
    };
    *converted = 0;
    struct stat sb;
    if (stat(in_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return adapt_fail(ADAPT_ERR_IO, "%s: not a folder", in_dir);
    if (mkdir(out_dir, 0777) != 0 && !(stat(out_dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
        return adapt_fail(ADAPT_ERR_IO, "%s: cannot create the output folder", out_dir);
    adapt_status st = ADAPT_OK;
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs && !st; i++) {
        char *src = path_join(in_dir, pairs[i][0]), *dst = path_join(out_dir, pairs[i][1]);
        if (!src || !dst) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else if (path_exists(src)) {
            torch_tensor *ts = NULL;
            size_t n = 0;
            st = torch_state_dict_load(src, &ts, &n);
            adapt_tensor_desc *d = st ? NULL : calloc(n ? n : 1, sizeof *d);
            if (!st && !d) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            for (size_t j = 0; !st && j < n; j++) {
                d[j].name = ts[j].name;
                d[j].dtype = ts[j].dtype;
                d[j].ndim = ts[j].ndim;
                memcpy(d[j].shape, ts[j].shape, sizeof d[j].shape);
                d[j].data = ts[j].data;
            }
            static const char *const meta[] = {"format", "pt"};
            if (!st) st = adapt_safetensors_write(dst, d, n, meta, 1);
            if (!st) ++*converted;
            free(d);
            torch_tensors_free(ts, n);
        }
        free(src);
        free(dst);
    }
    if (!st && *converted == 0)
        st = adapt_fail(ADAPT_ERR_ARG, "%s: no pytorch_adapter.bin, pytorch_model_head.bin or pytorch_model_adapter_fusion.bin", in_dir);
    DIR *dir = st ? NULL : opendir(in_dir);
    if (!st && !dir) st = adapt_fail(ADAPT_ERR_IO, "%s: cannot list the folder", in_dir);
    for (struct dirent *e; !st && (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        char *src = path_join(in_dir, e->d_name), *dst = path_join(out_dir, e->d_name);
        if (!src || !dst) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else st = copy_file(src, dst);
        free(src);
        free(dst);
    }
    if (dir) closedir(dir);
    return st;
}
