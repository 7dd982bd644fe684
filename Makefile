# regflow - top level build.
#
#   make            build bin/regflowd, bin/regflow-gw, bin/regflowctl
#   make deps       install the Debian packages the tests need (root, non-interactive)
#   make run        what running needs + build + engine and gateway on conf/regflow.conf
#   make reset      forget make run's state (database, spool, sinks): start afresh
#   make test       deps + build + lint, tidy, format-check + unit tests (plain and
#                   ASan/UBSan) + end-to-end tests
#   make bench      benchmarks side by side with their anchors (prints, asserts nothing)
#   make lint       cppcheck; make tidy clang-tidy; make format-check clang-format
#
# SAN=1 builds everything with AddressSanitizer and UBSan into build-san/ and
# bin-san/ (the test suite runs both ways).

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
STD      := -std=gnu11 -D_GNU_SOURCE

ifeq ($(SAN),1)
B        := build-san
BIN      := bin-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B        := build
BIN      := bin
SANFLAGS :=
endif

# Folders are libraries; each names the folders whose headers it may
# include (a folder's own headers are its own; no program includes
# another program's).  Each program links only its own libraries.
#
#   common/   libcommon.a   config, log, ids, buffers, secrets, spool format, HTTP server
#   wf/       libwf.a       the workflow language: model, loader, argument types, action schema
#   store/    libstore.a    the store's function table, its backends, the records layer
#   runtime/  libruntime.a  the interpreter and the action code, bound to the schema
#   engine/   regflowd      job API, job queue, auth
#   gateway/  regflow-gw    spool delivery
#   ctl/      regflowctl    the operator's tool (loader and spool; no interpreter, no store)
#   storectl/ regflowctl-store  its store verbs (migrate), a helper program regflowctl runs
#   simulate/ regflowctl-simulate  dry runs on the interpreter, another helper
INC_common  := -Icommon
INC_wf      := -Icommon -Iwf
INC_store   := -Icommon -Istore
INC_runtime := -Icommon -Iwf -Istore -Iruntime
INC_engine  := -Icommon -Iwf -Istore -Iruntime -Iengine
INC_gateway := -Icommon -Igateway
INC_ctl     := -Icommon -Iwf -Ictl
INC_storectl := -Icommon -Istore -Istorectl
INC_simulate := -Icommon -Iwf -Istore -Iruntime -Isimulate
INC_tests   := -Icommon -Iwf -Istore -Iruntime -Iengine -Igateway -Ictl -Istorectl

# pkg-config packages (and plain libraries) per program
PKGS_ALL  := libuv libcurl libesmtp-1.0 openssl tokyocabinet libpq libconfig jansson libsodium libargon2 libjpeg libpng libgif opendkim gmime-3.0 check
PKGS_D    := libuv tokyocabinet libpq libconfig jansson libsodium libargon2 libjpeg libpng libgif openssl
LIBS_D    := -lhttp_parser -lpthread -lm
PKGS_GW   := libuv libcurl libesmtp-1.0 openssl libconfig jansson libsodium opendkim
LIBS_GW   := -lhttp_parser -lpthread
PKGS_CTL  := libcurl libconfig jansson libsodium gmime-3.0 openssl
LIBS_CTL  :=
PKGS_STC  := tokyocabinet libpq libconfig jansson libsodium
pkglibs    = $(shell pkg-config --libs $(1) 2>/dev/null)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS_ALL) 2>/dev/null)
LDFLAGS   += $(SANFLAGS)

.DEFAULT_GOAL := all

obj = $(patsubst %.c,$(B)/%.o,$(1))
lib = $(B)/lib$(1).a
srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))

LIBDIRS := common wf store runtime engine gateway ctl storectl simulate
$(foreach d,$(LIBDIRS),$(eval $(call lib,$(d)): $(call obj,$(call srcs,$(d)))))
$(B)/lib%.a:
	@rm -f $@; ar rcs $@ $^

PROGS := $(BIN)/regflowd $(BIN)/regflow-gw $(BIN)/regflowctl $(BIN)/regflowctl-store \
         $(BIN)/regflowctl-simulate

.PHONY: all deps deps-run deps-bench deps-fuzz docs reset run test unit e2e e2e-pg bench lint tidy format format-check clean check-deps
all: $(PROGS)

define compile
$(B)/$(1)/%.o: $(1)/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $(STD) $(WARN) $$(CFLAGS) $$(SANFLAGS) $(INC_$(2)) $$(PKG_CFLAGS) -MMD -MP -c -o $$@ $$<
endef
$(foreach d,$(LIBDIRS),$(eval $(call compile,$(d),$(d))))
$(eval $(call compile,tests/unit,tests))
$(eval $(call compile,tests/bench,tests))

# the link lines: each program its own libraries, in dependency order
D_LIBS   := $(call lib,engine) $(call lib,runtime) $(call lib,store) $(call lib,wf) $(call lib,common)
GW_LIBS  := $(call lib,gateway) $(call lib,common)
CTL_LIBS := $(call lib,ctl) $(call lib,wf) $(call lib,common)

$(BIN)/regflowd: $(call obj,engine/main.c) $(D_LIBS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_D)) $(LIBS_D)
$(BIN)/regflow-gw: $(call obj,gateway/main.c) $(GW_LIBS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_GW)) $(LIBS_GW)
$(BIN)/regflowctl: $(call obj,ctl/main.c) $(CTL_LIBS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_CTL)) $(LIBS_CTL)

STC_LIBS := $(call lib,storectl) $(call lib,store) $(call lib,common)
$(BIN)/regflowctl-store: $(call obj,storectl/main.c) $(STC_LIBS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_STC))

SIM_LIBS := $(call lib,simulate) $(call lib,runtime) $(call lib,store) $(call lib,wf) $(call lib,common)
PKGS_SIM := tokyocabinet libpq libconfig jansson libsodium libargon2 libjpeg libpng libgif
$(BIN)/regflowctl-simulate: $(call obj,simulate/main.c) $(SIM_LIBS)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_SIM)) -lm

UNIT_SRC := $(wildcard tests/unit/*.c)
$(B)/unit-tests: $(call obj,$(UNIT_SRC)) $(call lib,ctl) $(call lib,gateway) $(call lib,storectl) $(D_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_ALL)) -lhttp_parser -lpthread -lm

$(B)/bench-fill: $(call obj,tests/bench/fill.c) $(call lib,store) $(call lib,common)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_D)) $(LIBS_D)

$(B)/bench-argon2: $(call obj,tests/bench/argon2_anchor.c)
	$(CC) $(LDFLAGS) -o $@ $^ $(call pkglibs,libsodium) -lpthread

deps:
	@sh scripts/deps.sh test
deps-run:
	@sh scripts/deps.sh run
deps-bench:
	@sh scripts/deps.sh bench
deps-fuzz:
	@sh scripts/deps.sh fuzz

# make docs - every shipped workflow drawn by regflowctl graph and Graphviz
# into docs/workflows/NAME.svg (docs/flows.md shows them)
docs: deps all
	@mkdir -p docs/workflows
	@for f in workflows/*.wf; do n=$$(basename $$f .wf); \
	  ./$(BIN)/regflowctl -c conf/regflow.conf graph $$n | dot -Tsvg -o docs/workflows/$$n.svg || exit 1; \
	  echo "docs/workflows/$$n.svg"; done

run: deps-run
	@$(MAKE) --no-print-directory all
	@sh scripts/run.sh

# reset - forget the state of make run (database, spool, file sinks): the
# tour starts afresh.  The daemons must be stopped.
reset:
	rm -rf var
	find spool -mindepth 1 -maxdepth 1 ! -name README -exec rm -rf {} +

# Unit tests plain and sanitized, then the end-to-end suite against the
# sanitized daemons (real smtp-sink, real sockets).
test: deps
	$(MAKE) all $(B)/unit-tests
	$(MAKE) SAN=1 all build-san/unit-tests
	$(MAKE) --no-print-directory lint tidy format-check
	./build/unit-tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ./build-san/unit-tests
	REGFLOW_BIN=$(CURDIR)/bin-san python3 tests/e2e/run.py
	$(MAKE) --no-print-directory e2e-pg

# the whole end-to-end suite again with every engine on PostgreSQL (a
# private cluster for the run, a database per engine), on the plain build;
# the tests of the Tokyo Cabinet file itself skip, saying so
e2e-pg: all
	REGFLOW_E2E_STORE=pg REGFLOW_BIN=$(CURDIR)/$(BIN) python3 tests/e2e/run.py

unit: all $(B)/unit-tests
	./$(B)/unit-tests

e2e: all
	REGFLOW_BIN=$(CURDIR)/$(BIN) python3 tests/e2e/run.py $(T)

bench: deps-bench all $(B)/bench-fill $(B)/bench-argon2
	python3 tests/bench/run.py

# make fuzz - libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) built
# against common/ and engine/ in build-fuzz/; each runs FUZZ_SECONDS on a
# temp copy of tests/fuzz/corpus/<target>/ and prints its exec/s and final
# coverage.  Fails if one crashes; the crash input's path is printed and kept.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_spool fuzz_workflow fuzz_args fuzz_conf fuzz_http fuzz_photo
FUZZ_B       := build-fuzz
FUZZ_CFLAGS  := $(STD) -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
                -DFUZZ_SRCDIR='"$(CURDIR)"' $(INC_tests) -MMD -MP
fuzz_workflow_LDFLAGS := -Wl,--wrap=file_read
.SECONDARY: $(patsubst %,$(FUZZ_B)/tests/fuzz/%.o,$(FUZZ_TARGETS))

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<
$(FUZZ_B)/libregflow.a: $(patsubst %.c,$(FUZZ_B)/%.o,$(foreach d,common wf store runtime engine,$(call srcs,$(d))))
	@rm -f $@; ar rcs $@ $^
$(FUZZ_B)/fuzz_%: $(FUZZ_B)/tests/fuzz/fuzz_%.o $(FUZZ_B)/libregflow.a
	clang -fsanitize=fuzzer,address,undefined $($(notdir $@)_LDFLAGS) -o $@ $^ $(call pkglibs,$(PKGS_D)) $(LIBS_D)

.PHONY: fuzz
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(addprefix $(FUZZ_B)/,$(FUZZ_TARGETS))
	@tmp=$$(mktemp -d /tmp/regflow-fuzz.XXXXXX); failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $$tmp/$$t/corpus $$tmp/$$t/crash; \
	  cp tests/fuzz/corpus/$$t/* $$tmp/$$t/corpus/ 2>/dev/null; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  rc=0; TMPDIR=$$tmp/$$t UBSAN_OPTIONS=print_stacktrace=1 ./$(FUZZ_B)/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -timeout=20 -print_final_stats=1 -artifact_prefix=$$tmp/$$t/crash/ \
	    $$tmp/$$t/corpus >$$tmp/$$t/log 2>&1 || rc=$$?; \
	  grep -E '^#[0-9]+' $$tmp/$$t/log | tail -n 1; \
	  grep -E 'stat::average_exec_per_sec' $$tmp/$$t/log; \
	  if [ $$rc != 0 ]; then \
	    failed="$$failed $$t"; \
	    grep -E 'ERROR|SUMMARY|runtime error|^fuzz_|^ +#[0-9]+ .*\.[ch]:[0-9]' $$tmp/$$t/log | \
	      grep -v -E 'fuzzer::|__sanitizer|nptl/|stdlib/|signal/|csu/' | head -n 12; \
	    echo "$$t: FAILED (exit $$rc); crash input: $$(ls $$tmp/$$t/crash/* 2>/dev/null || \
	      echo none) (log: $$tmp/$$t/log)"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (kept $$tmp)"; exit 1; fi; \
	rm -rf $$tmp; echo "fuzz: no crash in $(FUZZ_TARGETS)"

-include $(shell find $(FUZZ_B) -name '*.d' 2>/dev/null)

# format-check - every C file as clang-format (.clang-format) would write it
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find common engine gateway ctl tests -name '*.[ch]')
format-check:
	@bad=$$(for f in $(SOURCES); do clang-format --style=file $$f | cmp -s - $$f || echo $$f; done); \
	if [ -n "$$bad" ]; then echo "format-check: not formatted (clang-format -i them):"; \
	  echo "$$bad" | sed 's/^/  /'; exit 1; fi; echo "format-check: ok"
format:
	clang-format -i $(SOURCES)

# tidy - clang-tidy: the bugprone checks and no function over 80 lines.
# Left out: easily-swappable-parameters (every (buf, n) pair), suspicious-
# string-compare (the tree writes "strcmp(a, b)" for "differs"), implicit-
# widening (constant products) and sizeof-expression (arrays of pointers,
# sized with sizeof(*p)).
TIDY_CHECKS := -*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-suspicious-string-compare,$\
               -bugprone-implicit-widening-of-multiplication-result,-bugprone-sizeof-expression,$\
               readability-function-size
TIDY_CONFIG := {CheckOptions: [{key: readability-function-size.LineThreshold, value: 80}]}
tidy:
	@out=$$(clang-tidy --quiet -checks='$(TIDY_CHECKS)' -config='$(TIDY_CONFIG)' \
	  --warnings-as-errors='*' $(foreach d,$(LIBDIRS),$(wildcard $(d)/*.c)) -- \
	  $(STD) $(INC_tests) $(PKG_CFLAGS) 2>&1); rc=$$?; \
	echo "$$out" | grep -E 'warning:|error:' ; \
	if [ $$rc != 0 ]; then echo "tidy: FAILED"; exit 1; fi; echo "tidy: ok"

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --std=c11 --include=/usr/include/jansson.h --suppress=missingIncludeSystem \
	  --inline-suppr $(INC_tests) $(LIBDIRS)

clean:
	rm -rf build build-san bin bin-san

-include $(shell find build build-san -name '*.d' 2>/dev/null)
