/*
 * graph_cmd - "regflowctl graph FILE|NAME": a workflow as Graphviz dot, for
 * operators to see it (make docs renders the shipped ones to SVG).
 */
#ifndef REGFLOW_CTL_GRAPH_CMD_H
#define REGFLOW_CTL_GRAPH_CMD_H

#include "conf.h"

#include <stdio.h>

struct wf;

/* graph_print - w as one dot digraph on f */
void graph_print(FILE *f, const struct wf *w);
int ctl_graph(struct conf *c, int argc, char **argv);

#endif
