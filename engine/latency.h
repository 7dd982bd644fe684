/*
 * latency - histograms of how long jobs take, from submission to their
 * result, per job type and result code (Prometheus histograms: cumulative
 * buckets, a sum and a count), for /metrics.
 */
#ifndef REGFLOW_LATENCY_H
#define REGFLOW_LATENCY_H

#include <stdint.h>
#include <stdio.h>

struct latency;

struct latency *latency_new(void);
void latency_free(struct latency *l);
/* latency_observe - one job of type that answered code after ms */
void latency_observe(struct latency *l, const char *type, const char *code, int64_t ms);
/* latency_print - the histograms as Prometheus text, named name */
void latency_print(const struct latency *l, FILE *f, const char *name);

#endif
