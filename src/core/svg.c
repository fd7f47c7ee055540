#include "core/svg.h"
#include "core/error.h"
#include "core/fileio.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

/* Text for SVG: the five XML special characters escaped. */
static void put_text(FILE *fp, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        case '\'': fputs("&apos;", fp); break;
        default: fputc(*s, fp);
        }
}

static void range_of(const svg_series *s, size_t n, bool right, double *lo, double *hi, bool use_x)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        if (!use_x && s[k].right_axis != right) continue;
        for (size_t i = 0; i < s[k].n; i++) {
            double v = use_x ? s[k].x[i] : s[k].y[i];
            if (!isfinite(v)) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    }
    if (!(*lo <= *hi)) *lo = 0, *hi = 1;
    if (*hi - *lo < 1e-12) *hi = *lo + 1;
}

adapt_status svg_line_chart(const char *path, const char *title, const char *x_label, const char *y_label,
                            const char *y2_label, const svg_series *s, size_t n)
{
    atomic_file af;
    TRY(atomic_file_begin(&af, path));
    FILE *fp = af.fp;
    const double W = 720, H = 420, L = 70, R = 70, T = 40, Bm = 50;
    double x0, x1, y0, y1, z0, z1;
    range_of(s, n, false, &x0, &x1, true);
    range_of(s, n, false, &y0, &y1, false);
    range_of(s, n, true, &z0, &z1, false);
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
    put_text(fp, title);
    fprintf(fp, "</text>\n<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n", L, T, W - L - R, H - T - Bm);
    for (int k = 0; k <= 4; k++) { /* ticks */
        double fy = T + (H - T - Bm) * k / 4.0, fx = L + (W - L - R) * k / 4.0;
        fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, fy + 4, y1 - (y1 - y0) * k / 4.0);
        fprintf(fp, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.4g</text>\n", fx, H - Bm + 16, x0 + (x1 - x0) * k / 4.0);
        if (y2_label) fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\">%.3g</text>\n", W - R + 6, fy + 4, z1 - (z1 - z0) * k / 4.0);
    }
    fprintf(fp, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", W / 2, H - 12);
    put_text(fp, x_label);
    fprintf(fp, "</text>\n<text transform=\"translate(16,%.0f) rotate(-90)\" text-anchor=\"middle\">", H / 2);
    put_text(fp, y_label);
    fprintf(fp, "</text>\n");
    if (y2_label) {
        fprintf(fp, "<text transform=\"translate(%.0f,%.0f) rotate(90)\" text-anchor=\"middle\">", W - 14, H / 2);
        put_text(fp, y2_label);
        fprintf(fp, "</text>\n");
    }
    for (size_t k = 0; k < n; k++) {
        double lo = s[k].right_axis ? z0 : y0, hi = s[k].right_axis ? z1 : y1;
        const char *color = palette[k % 6];
        fprintf(fp, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double px = L + (s[k].x[i] - x0) / (x1 - x0) * (W - L - R);
            double py = T + (hi - s[k].y[i]) / (hi - lo) * (H - T - Bm);
            fprintf(fp, "%.1f,%.1f ", px, py);
        }
        fprintf(fp, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">", L + 10, T + 16 + 15.0 * k, color);
        put_text(fp, s[k].name);
        fprintf(fp, "</text>\n");
    }
    fprintf(fp, "</svg>\n");
    return atomic_file_commit(&af);
}

adapt_status svg_heatmap(const char *path, const char *title, const char *const *rows, size_t n_rows,
                         const char *const *cols, size_t n_cols, const double *v)
{
    atomic_file af;
    TRY(atomic_file_begin(&af, path));
    FILE *fp = af.fp;
    const double cell = 48, L = 110, T = 60;
    double W = L + cell * (double)n_cols + 20, H = T + cell * (double)n_rows + 30;
    fprintf(fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">", W / 2);
    put_text(fp, title);
    fprintf(fp, "</text>\n");
    for (size_t c = 0; c < n_cols; c++) {
        fprintf(fp, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", L + cell * ((double)c + 0.5), T - 8);
        put_text(fp, cols[c]);
        fprintf(fp, "</text>\n");
    }
    for (size_t r = 0; r < n_rows; r++) {
        fprintf(fp, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", L - 8, T + cell * ((double)r + 0.5) + 4);
        put_text(fp, rows[r]);
        fprintf(fp, "</text>\n");
        for (size_t c = 0; c < n_cols; c++) {
            double x = v[r * n_cols + c];
            x = isfinite(x) ? fmin(fmax(x, 0), 1) : 0;
            int shade = (int)lround(255 * (1 - x));
            fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" fill=\"rgb(%d,%d,255)\" stroke=\"white\"/>\n",
                    L + cell * (double)c, T + cell * (double)r, cell, cell, shade, shade);
            fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"%s\">%.2f</text>\n", L + cell * ((double)c + 0.5),
                    T + cell * ((double)r + 0.5) + 4, x > 0.5 ? "white" : "black", x);
        }
    }
    fprintf(fp, "</svg>\n");
    return atomic_file_commit(&af);
}
