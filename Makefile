# tieredlog: PGXS build. `make && make install`; tests: scripts/test.sh (see README).
EXTENSION = tieredlog
# The install script of the current version is built from sql/install/*.sql (one file per
# concern, in name order); released versions' scripts and every upgrade script are picked up
# from sql/ by wildcard.
EXTVERSION = $(shell sed -nE "s/^default_version *= *'([^']+)'.*/\1/p" $(EXTENSION).control)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
MODULE_big = tieredlog
# Source folders by layer, lowest first (README, "Development"); a file includes headers only from
# its own folder or a lower one (scripts/check_layers.sh). Every .c in them is built.
TL_LAYERS = core store log model repl bgw api
OBJS = src/tieredlog.o $(patsubst %.c,%.o,$(foreach d,$(TL_LAYERS),$(sort $(wildcard src/$(d)/*.c))))
# pg_regress tests, in order: test/sql/*.sql against expected/*.out (test/expected links there).
# scripts/test.sh runs them; so does `make installcheck` (as a user other than root), on a
# temporary server with test/regress.conf's settings started from the installed binaries.
REGRESS = logs append digests tiers errors workers decoder model ledger health subxact
REGRESS_OPTS = --inputdir=test --outputdir=test/out --temp-instance=test/out/instance \
	--temp-config=test/out/regress.conf
REGRESS_PREP = test/out/regress.conf
EXTRA_CLEAN = test/out tmp_check
# The TAP tests (test/t/*.pl): `make prove_installcheck` (PGXS's own recipe; not as root).
PROVE_TESTS = test/t/*.pl

PGFILEDESC = "tieredlog - tiered, replicated, append-only keyed logs"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# zstd and xxhash (Debian: libzstd-dev, libxxhash-dev); libpq for peers (libpq-dev, which
# postgresql-server-dev-15 depends on)
SHLIB_LINK += -lzstd -lxxhash -lcrypto -L$(shell $(PG_CONFIG) --libdir) -lpq
PG_CPPFLAGS += -I$(srcdir)/src -I$(shell $(PG_CONFIG) --includedir)

# Fail early on servers older than 15.
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
ifeq ($(shell test "$(PG_MAJOR)" -ge 15 2>/dev/null && echo ok),)
$(error tieredlog needs PostgreSQL 15 or later; $(PG_CONFIG) reports "$(shell $(PG_CONFIG) --version)")
endif

include $(PGXS)

# test/regress.conf, plus output_plugin_libraries where the server has that setting (15.19+).
test/out/regress.conf: test/regress.conf
	@mkdir -p test/out
	cp test/regress.conf $@
	if $(bindir)/postgres --describe-config | cut -f1 | grep -qx output_plugin_libraries; then \
		echo "output_plugin_libraries = 'pgoutput, test_decoding, tieredlog'" >> $@; fi

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

.PHONY: regress-list
regress-list:
	@echo $(REGRESS)

# PGXS tracks no header dependencies: rebuild every object when any header changes.
$(OBJS): $(wildcard src/*/*.h)

.PHONY: tl-layers
tl-layers:
	@echo $(TL_LAYERS)
