# bench/bench.mk: countersign-bench, console-bench and `make bench`
# (included by the top-level Makefile; never part of `make test`).
# SPDX-License-Identifier: MIT

BENCH_BIN := $(BINDIR)/countersign-bench

$(BENCH_BIN): $(BUILD)/bench/countersign-bench.o $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

# console-bench: the console's model and drawing code, headless (ncurses
# on /dev/null, the history view over a scratch audit store).
CONSOLE_BENCH := $(BINDIR)/console-bench

$(CONSOLE_BENCH): $(BUILD)/bench/console-bench.o $(LIBTUI) $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CURSES) $(DEP_LIBS)

# BENCH_QUICK=1: ~1 s points instead of ~5 s. BENCH_PEERS=0 skips the
# Cerbos side-by-side run.
bench: $(BINDIR)/countersignd $(BINDIR)/countersignctl $(BENCH_BIN) \
    $(CONSOLE_BENCH)
	@BIN=$(BINDIR) bench/run.sh

# Where the daemon spends its time under load (needs perf).
.PHONY: bench-profile
bench-profile: $(BINDIR)/countersignd $(BENCH_BIN)
	@BIN=$(BINDIR) bench/profile.sh

# What each stage of the decision path costs: a scratch build that can
# skip a stage (bench/ablate.patch), stage by stage, interleaved.
.PHONY: bench-ablate
bench-ablate:
	@bench/ablate.sh
