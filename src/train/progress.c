#include "train/progress.h"
#include "core/clock.h"
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void progress_init(progress *p, long total, bool quiet)
{
    p->total = total > 0 ? total : 1;
    p->last_printed = 0;
    p->start = monotonic_seconds();
    p->loss_avg = -1;
    p->tty = isatty(fileno(stderr));
    p->quiet = quiet;
    p->dirty = false;
}

static void eta_text(double seconds, char *buf, size_t n)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

/* A line at `done` of total: always on a terminal (redrawn in place), else every 2%, at the end
 * and when `first`. */
static bool line_due(const progress *p, long done, bool first)
{
    long every = p->total / 50 > 0 ? p->total / 50 : 1;
    return p->tty || first || done - p->last_printed >= every || done == p->total;
}

/* Draws "<text>  ETA <eta>" at `done`, the ETA from the mean time per unit so far. */
static void draw(progress *p, long done, double elapsed, const char *text)
{
    char eta[32];
    eta_text(elapsed / (double)(done ? done : 1) * (double)(p->total - done), eta, sizeof eta);
    fprintf(stderr, "%s%s  ETA %s%s", p->tty ? "\r\033[K" : "", text, eta, p->tty ? "" : "\n");
    p->dirty = p->tty;
    p->last_printed = done;
}

void progress_update(progress *p, long step, double loss, double tokens)
{
    if (p->quiet) return;
    p->loss_avg = p->loss_avg < 0 ? loss : 0.95 * p->loss_avg + 0.05 * loss;
    if (!line_due(p, step, step == 1)) return;
    double elapsed = monotonic_seconds() - p->start;
    char text[160];
    snprintf(text, sizeof text, "step %ld/%ld  loss %.4f  %.0f tokens/s", step, p->total, p->loss_avg, tokens / (elapsed > 0 ? elapsed : 1));
    draw(p, step, elapsed, text);
}

void progress_items(progress *p, long done, const char *unit, double after_seconds)
{
    if (p->quiet) return;
    double elapsed = monotonic_seconds() - p->start;
    if ((elapsed < after_seconds && !p->last_printed) || !line_due(p, done, false)) return;
    char text[160];
    snprintf(text, sizeof text, "%s %ld/%ld  %.0f %s/s", unit, done, p->total, (double)done / (elapsed > 0 ? elapsed : 1), unit);
    draw(p, done, elapsed, text);
}

void progress_note(progress *p, const char *fmt, ...)
{
    if (p->quiet) return;
    if (p->dirty) fprintf(stderr, "\n");
    p->dirty = false;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

void progress_finish(progress *p)
{
    if (p->dirty) fprintf(stderr, "\n");
    p->dirty = false;
}
