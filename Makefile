# countersign: runtime authorization for AI-agent tool calls.
# SPDX-License-Identifier: MIT

CC      ?= cc
OPT     ?= -O2 -g
CSTD    := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WERROR  ?= -Werror
WARN    := -Wall -Wextra -Wpedantic $(WERROR) -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wwrite-strings -Wformat=2 -Wundef \
           -Wpointer-arith
CPPFLAGS += -Icore -Itransport -Itui -Icli \
            -DCS_DEFAULT_POLICY=\"$(abspath policies/default.json)\"
CFLAGS  += $(CSTD) $(WARN) $(OPT) -MMD -MP
BUILD   ?= build
ifdef HOOKS                                   # crash points for fault tests
CPPFLAGS += -DCS_CRASH_POINTS
BUILD   := build/hooks
endif
ifdef SAN
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
BUILD   := build/san
endif

PKGS     := jansson yajl sqlite3 libcurl libjwt libcrypto
DEP_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lnng -lpthread -lm
CURSES   := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
CHECK    := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

CORE_SRC := $(filter-out core/daemon.c,$(wildcard core/*.c))
TP_SRC   := $(wildcard transport/*.c)
TUI_SRC  := $(filter-out tui/main.c,$(wildcard tui/*.c))
CLI_SRC  := $(filter-out cli/mcp.c,$(wildcard cli/*.c))

CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
TP_OBJ   := $(TP_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ  := $(TUI_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)

LIBCORE  := $(BUILD)/libcscore.a
LIBCS    := $(BUILD)/libcountersign.a
LIBTUI   := $(BUILD)/libcstui.a

BINDIR   ?= bin
ifdef HOOKS
BINDIR   := bin/hooks
endif
ifdef SAN
BINDIR   := bin/san
endif
BINS     := $(BINDIR)/countersignd $(BINDIR)/countersignctl \
            $(BINDIR)/countersign-mcp
ifneq ($(wildcard tui/main.c),)
BINS     += $(BINDIR)/countersign
endif

TEST_SRC := $(wildcard tests/check_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
RAWSEND  := $(BUILD)/tests/cs_rawsend
HANGUP   := $(BUILD)/tests/hostile/hostile_peer
EXAMPLES := $(BUILD)/examples/agent

.PHONY: all test check unit integration asan valgrind clean lint deps demo \
        bench screenshots
all: $(BINS) $(EXAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBCS): $(TP_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(LIBTUI): $(TUI_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BINDIR)/countersignd: $(BUILD)/core/daemon.o $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)
$(BINDIR)/countersignctl: $(CLI_OBJ) $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)
# the MCP gateway shares enforce.c (asking the daemon) with countersignctl
$(BINDIR)/countersign-mcp: $(BUILD)/cli/mcp.o $(BUILD)/cli/enforce.o \
    $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)
$(BINDIR)/countersign: $(BUILD)/tui/main.o $(LIBTUI) $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CURSES) $(DEP_LIBS)

$(BUILD)/tests/check_%: tests/check_%.c $(LIBTUI) $(LIBCS) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(filter %.a,$^) \
	    $(CHECK) $(CURSES) $(DEP_LIBS)

# the enforcement points' shared code lives in cli/
$(BUILD)/tests/check_enforce: $(BUILD)/cli/enforce.o

# test tool: sends raw frames to the agent socket (tests/integration)
$(RAWSEND): tests/tools/cs_rawsend.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lnng -lpthread

# the example agent (not installed) links libcountersign.a and nothing else
# of countersign: this keeps the client library self-contained
$(BUILD)/examples/agent: examples/agent.c $(LIBCS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lnng \
	    $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson) \
	    -lpthread

# `make test` and `make demo` first install missing Debian packages, then
# re-enter make so that pkg-config sees them.
test:
	@tests/deps.sh
	@$(MAKE) --no-print-directory check

# The banned-call check, Check suites, then integration tests against the
# real binaries (they include the shipped policy's table tests).
check: lint all $(TESTS) $(RAWSEND) $(HANGUP)
	@fail=0; for t in $(TESTS); do ./$$t || fail=1; done; \
	  BIN=$(BINDIR) RAWSEND=$(RAWSEND) HANGUP=$(HANGUP) \
	    tests/integration/run.sh || fail=1; \
	  exit $$fail

unit: $(TESTS)
	@fail=0; for t in $(TESTS); do ./$$t || fail=1; done; exit $$fail

integration: all $(RAWSEND) $(HANGUP)
	BIN=$(BINDIR) RAWSEND=$(RAWSEND) HANGUP=$(HANGUP) tests/integration/run.sh

asan:
	@tests/deps.sh
	@$(MAKE) --no-print-directory SAN=1 check

valgrind: $(TESTS)
	@for t in $(TESTS); do CK_FORK=no CS_LEAK_CHECK=1 valgrind -q \
	    --error-exitcode=66 \
	    --leak-check=full --errors-for-leak-kinds=definite ./$$t || exit 1; done

deps:
	@tests/deps.sh

demo:
	@tests/deps.sh
	@$(MAKE) --no-print-directory all
	@tests/demo.sh

# PNGs of the real console (tmux, aha, headless Chromium) for the README.
screenshots: all
	@BIN=$(BINDIR) screenshots/make.sh

lint:
	@! grep -nE '\b(gets|sprintf|strcpy|strcat|strtok|atoi)\(' \
	    core/*.c transport/*.c tui/*.c cli/*.c || \
	    { echo "banned call found"; exit 1; }

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# Optional parts keep their rules next to their sources.
-include bench/bench.mk tests/hostile/hostile.mk fuzz/fuzz.mk
