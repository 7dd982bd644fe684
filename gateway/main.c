/*
 * regflow-gw - the spooling gateway: delivers the spool's e-mail through
 * an SMTP relay (or to the file sink) and its SMS, with retries.
 *
 *   regflow-gw [-c FILE] [-o path=value]...
 */
#include "conf.h"
#include "gw.h"
#include "log.h"

#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

static void usage(void)
{
	fprintf(stderr, "usage: regflow-gw [-c FILE] [-o path=value]...\n");
}

int main(int argc, char **argv)
{
	struct conf_args args = {0};
	struct conf conf;
	struct gw_conf gc;
	struct gw gw;
	uv_loop_t loop;
	char n[16];
	int opt, rc = 1;

	log_init("regflow-gw", LOG_INFO);
	while ((opt = getopt(argc, argv, "c:o:h")) != -1) {
		if (opt == 'h' || conf_args_add(&args, opt, optarg) < 0) {
			usage();
			return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}
	if (conf_open(&conf, &args) < 0 || gw_conf_load(&gc, &conf) < 0) {
		fprintf(stderr, "regflow-gw: %s\n", conf_error(&conf));
		goto out;
	}
	if (sodium_init() < 0)
		fatal("libsodium cannot initialise");
	/* libesmtp writes to sockets the relay may have closed */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("libcurl cannot initialise");
	/* each SMTP session holds a worker thread for its whole length; the
	 * others record SMS outcomes and delivery reports and count for /metrics */
	snprintf(n, sizeof(n), "%d", gc.connections + 3);
	setenv("UV_THREADPOOL_SIZE", n, 0);
	if (uv_loop_init(&loop) < 0)
		fatal("uv_loop_init failed");
	if (gw_start(&gw, &loop, &gc) == 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
		log_info("stopped");
		rc = 0;
	}
	gw_free(&gw);
	uv_loop_close(&loop);
	curl_global_cleanup();
out:
	conf_close(&conf);
	return rc;
}
