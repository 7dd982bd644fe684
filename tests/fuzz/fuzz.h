/*
 * fuzz - what every libFuzzer target of tests/fuzz/ shares: the entry
 * points and CHECK, which stops the run on a broken invariant.
 */
#ifndef REGFLOW_FUZZ_H
#define REGFLOW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s: invariant failed at line %d: %s\n", __FILE__,         \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_LIBCONFIG_LEAK - for targets that parse libconfig: libconfig 1.5
 * (Debian 12) leaks the buffer of a string token that is the syntax error
 * ("a = \"x\"; \"y\""), its parser has no destructor for it.  Not
 * regflow's; every other leak still fails the run. */
#define FUZZ_LIBCONFIG_LEAK                                                                        \
	const char *__lsan_default_suppressions(void);                                             \
	const char *__lsan_default_suppressions(void)                                              \
	{                                                                                          \
		return "leak:strbuf_append\nleak:libconfig_yylex\n";                               \
	}                                                                                          \
	const char *__lsan_default_options(void);                                                  \
	const char *__lsan_default_options(void)                                                   \
	{                                                                                          \
		return "print_suppressions=0";                                                     \
	}

#endif
