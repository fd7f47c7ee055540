/* File helpers: bounded whole-file reads, read-only mappings, atomic writes. */
#ifndef ADAPT_CORE_FILEIO_H
#define ADAPT_CORE_FILEIO_H
#include "adapt.h"
#include <stdio.h>

/* Reads a whole file into a NUL-terminated buffer; refuses files larger than max_bytes. */
adapt_status file_read_all(const char *path, size_t max_bytes, char **out, size_t *out_len);

/* A read-only mapping of a whole file (an empty file maps to data == NULL, size 0). */
typedef struct file_map {
    const unsigned char *data;
    size_t size;
} file_map;
adapt_status file_map_open(const char *path, file_map *map);
void file_map_close(file_map *map);

/* Atomic replacement of `path`: write into a temporary file beside it, then commit (fsync, rename,
 * fsync of the directory) or abort (remove the temporary). The previous file survives any crash. */
typedef struct atomic_file {
    FILE *fp;
    char *final_path;
    char *temp_path;
} atomic_file;
adapt_status atomic_file_begin(atomic_file *af, const char *path);
adapt_status atomic_file_commit(atomic_file *af);
void atomic_file_abort(atomic_file *af);

/* Convenience: atomically writes `len` bytes. */
adapt_status file_write_atomic(const char *path, const void *data, size_t len);

/* "dir" + "/" + "name" in a fresh malloc'd string (NULL on allocation failure). */
char *path_join(const char *dir, const char *name);
bool path_exists(const char *path);
/* Creates folder `dir` (one level); one that exists already is fine. */
adapt_status dir_make(const char *dir);

#endif
