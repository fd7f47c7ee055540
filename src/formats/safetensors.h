/* safetensors: a little-endian u64 header length, a JSON header {name: {dtype, shape,
 * data_offsets:[begin,end]}, "__metadata__": {str: str}}, then the byte buffer. The reader maps the
 * file and validates every entry before any tensor is used. */
#ifndef ADAPT_FORMATS_SAFETENSORS_H
#define ADAPT_FORMATS_SAFETENSORS_H
#include "adapt.h"
#include "core/fileio.h"

/* Headers past this are refused before allocation (the reference implementation uses 100 MB). */
#define ST_MAX_HEADER_BYTES ((uint64_t)100 << 20)

typedef struct st_tensor {
    char *name;
    adapt_dtype dtype;
    int ndim;
    int64_t shape[ADAPT_MAX_DIMS];
    size_t numel;
    const unsigned char *data; /* inside the mapping */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    file_map map;
    st_tensor *tensors; /* sorted by data offset */
    size_t count;
} st_file;

adapt_status st_open(const char *path, st_file *out);
void st_close(st_file *f);
/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);

size_t dtype_size(adapt_dtype dt);
const char *dtype_name(adapt_dtype dt);
/* Parses "F32", "BF16", ...; false when unknown. */
bool dtype_parse(const char *s, adapt_dtype *out);
/* Converts a tensor of any numeric dtype to float32 (out has t->numel elements). */
adapt_status st_to_f32(const st_file *f, const st_tensor *t, float *out);
/* Converts an integer tensor to int64 (for input ids / labels). */
adapt_status st_to_i64(const st_file *f, const st_tensor *t, int64_t *out);

float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f); /* round to nearest even, as torch does */
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

#endif
