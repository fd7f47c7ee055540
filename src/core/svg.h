/* Small SVG charts for results people would rather look at: line charts (training curves) and
 * heatmaps (AdapterFusion attention). */
#ifndef ADAPT_CORE_SVG_H
#define ADAPT_CORE_SVG_H
#include "adapt.h"

typedef struct svg_series {
    const char *name;
    const double *x, *y;
    size_t n;
    bool right_axis;   /* plotted against the right-hand axis (e.g. a dev metric beside the loss) */
} svg_series;

adapt_status svg_line_chart(const char *path, const char *title, const char *x_label, const char *y_label,
                            const char *y2_label, const svg_series *series, size_t n_series);

/* values[r * n_cols + c] in [0, 1]; one row per row label, one column per column label. */
adapt_status svg_heatmap(const char *path, const char *title, const char *const *row_labels, size_t n_rows,
                         const char *const *col_labels, size_t n_cols, const double *values);

#endif
