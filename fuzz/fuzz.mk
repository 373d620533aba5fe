# fuzz/fuzz.mk: libFuzzer targets for the wire decoder, the policy
# compiler and evaluator, the token verifier and the console's sanitizer
# (included by the top-level Makefile; never part of `make test`).
# Built with clang, ASan and UBSan straight from the sources into
# build/fuzz/, so nothing here shares objects with the gcc build.
#
#   make fuzz                 each target for FUZZ_SECONDS (60) seconds
#   make fuzz FUZZ_TARGETS=fuzz_wire FUZZ_SECONDS=600
#   make fuzz-regress         replay seeds and saved reproducers only
#   make fuzz FUZZ_FLAGS=-fork=1   go on past timeouts and out-of-memory
#   make fuzz-build           build the targets
# SPDX-License-Identifier: MIT

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_wire fuzz_policy fuzz_token fuzz_sanitize
FUZZ_DIR     := build/fuzz
# scratch: grown corpora, logs and crashes (never the repository)
FUZZ_WORK    ?= $(FUZZ_DIR)/work
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(CSTD) $(WARN) -g -O1 $(FUZZ_SAN) -MMD -MP
FUZZ_LIBS    := $(shell pkg-config --libs jansson yajl libjwt libcrypto \
                2>/dev/null || echo -ljansson -lyajl -ljwt -lcrypto)

# The product sources each target links, compiled again with clang.
fuzz_wire_SRC     := core/req.c core/cs.c core/json.c
fuzz_policy_SRC   := core/pol.c core/cs.c core/json.c
fuzz_token_SRC    := core/tok.c core/cs.c core/json.c
fuzz_sanitize_SRC := tui/tui_text.c

FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)

.PHONY: fuzz fuzz-build fuzz-deps fuzz-regress fuzz-bins

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

# fuzz_rule TARGET: link build/fuzz/TARGET from fuzz/TARGET.c and its
# product sources.
define fuzz_rule
$(FUZZ_DIR)/$(1): $(FUZZ_DIR)/obj/fuzz/$(1).o \
    $$($(1)_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
	$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(FUZZ_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

# clang and valgrind come with tests/deps.sh --dev; clang's libFuzzer
# runtime is a separate package on Debian, installed when a trivial
# target does not link.
fuzz-deps:
	@tests/deps.sh --dev
	@t=$$(mktemp -d) && \
	  printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	    '{ (void) d; (void) n; return 0; }' >"$$t/probe.c" && \
	  if ! $(FUZZ_CC) -fsanitize=fuzzer,address,undefined \
	      -o "$$t/probe" "$$t/probe.c" 2>/dev/null; then \
	    echo "installing Debian packages: libclang-rt-14-dev" >&2; \
	    s=""; [ "$$(id -u)" -eq 0 ] || s=sudo; \
	    $$s apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq \
	      --no-install-recommends libclang-rt-14-dev >/dev/null && \
	    $(FUZZ_CC) -fsanitize=fuzzer,address,undefined \
	      -o "$$t/probe" "$$t/probe.c" || \
	    { echo "fuzz: $(FUZZ_CC) -fsanitize=fuzzer does not work" >&2; \
	      rm -rf "$$t"; exit 1; }; \
	  fi; rm -rf "$$t"

fuzz-bins: $(FUZZ_BINS)

# Like `make test`: install what is missing, then re-enter make so that
# pkg-config sees it.
fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory fuzz-bins

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_WORK=$(FUZZ_WORK) \
	    FUZZ_FLAGS='$(FUZZ_FLAGS)' fuzz/run.sh fuzz $(FUZZ_DIR) \
	    $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@FUZZ_WORK=$(FUZZ_WORK) FUZZ_FLAGS='$(FUZZ_FLAGS)' \
	    fuzz/run.sh regress $(FUZZ_DIR) $(FUZZ_TARGETS)
