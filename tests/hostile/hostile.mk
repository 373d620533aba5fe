# tests/hostile/hostile.mk: the hardening harness (make hostile,
# make hostile-short). Included by the top-level Makefile.
# SPDX-License-Identifier: MIT
#
#   make hostile                        long form (nightly, by hand)
#   make hostile KILL9=500 RACES=5000   bigger loops
#   make hostile-short                  a few minutes, for CI
#
# Both end with one scorecard line and exit non-zero when a bad counter
# is not zero. tests/hostile/README.md explains every counter.

HOSTILE_DIR   := tests/hostile
HOSTILE_BUILD := $(BUILD)/tests/hostile
HOSTILE_TOOLS := $(HOSTILE_BUILD)/hostile_load $(HOSTILE_BUILD)/hostile_peer \
                 $(HOSTILE_BUILD)/hostile_race $(HOSTILE_BUILD)/hostile_sub
HOSTILE_SHIM  := $(HOSTILE_BUILD)/hostile_shim.so
HOSTILE_NNG   := -lnng -lpthread

# Loop sizes; empty means the form's default (see run.sh).
KILL9 ?=
RACES ?=
SECTIONS ?=

.PHONY: hostile hostile-short hostile-bins hostile-tools

$(HOSTILE_BUILD)/hostile_load: $(HOSTILE_DIR)/hostile_load.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(DEP_LIBS)
$(HOSTILE_BUILD)/hostile_race: $(HOSTILE_DIR)/hostile_race.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(DEP_LIBS)
$(HOSTILE_BUILD)/hostile_peer: $(HOSTILE_DIR)/hostile_peer.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(HOSTILE_NNG)
$(HOSTILE_BUILD)/hostile_sub: $(HOSTILE_DIR)/hostile_sub.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(HOSTILE_NNG)
# LD_PRELOAD shim: fsync/fdatasync failures and a shifted wall clock
$(HOSTILE_SHIM): $(HOSTILE_DIR)/hostile_shim.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared -o $@ $< -ldl

hostile-tools: $(HOSTILE_TOOLS) $(HOSTILE_SHIM) $(RAWSEND)

# The plain binaries, the crash-point build (bin/hooks) and the
# ASan+UBSan build (bin/san) the harness runs.
hostile-bins:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory HOOKS=1 all
	@$(MAKE) --no-print-directory SAN=1 all
	@$(MAKE) --no-print-directory hostile-tools

hostile: hostile-bins
	@BIN=$(BINDIR) HOOKS_BIN=bin/hooks SAN_BIN=bin/san \
	    HOSTILE_TOOLS=$(HOSTILE_BUILD) RAWSEND=$(RAWSEND) \
	    KILL9='$(KILL9)' RACES='$(RACES)' SECTIONS='$(SECTIONS)' \
	    $(HOSTILE_DIR)/run.sh long

hostile-short: hostile-bins
	@BIN=$(BINDIR) HOOKS_BIN=bin/hooks SAN_BIN=bin/san \
	    HOSTILE_TOOLS=$(HOSTILE_BUILD) RAWSEND=$(RAWSEND) \
	    KILL9='$(KILL9)' RACES='$(RACES)' SECTIONS='$(SECTIONS)' \
	    $(HOSTILE_DIR)/run.sh short
