# tieredlog: PGXS build. `make && make install`; tests: scripts/test.sh (see README).
EXTENSION = tieredlog
DATA = sql/tieredlog--1.0.sql sql/tieredlog--1.1.sql sql/tieredlog--1.0--1.1.sql
MODULE_big = tieredlog
OBJS = \
	src/tieredlog.o \
	src/shmem.o \
	src/peer_limits.o \
	src/safe_spi.o \
	src/validate.o \
	src/record.o \
	src/merkle.o \
	src/seal.o \
	src/ledger.o \
	src/verify.o \
	src/proof.o \
	src/seal_peers.o \
	src/catalog.o \
	src/segment.o \
	src/digest.o \
	src/digest_store.o \
	src/append.o \
	src/read.o \
	src/archive.o \
	src/archive_store.o \
	src/segrows.o \
	src/tier.o \
	src/worker.o \
	src/tasks.o \
	src/policy.o \
	src/stats.o \
	src/decoder.o \
	src/apply.o \
	src/peer.o \
	src/peer_auth.o \
	src/peer_conn.o \
	src/wire.o \
	src/remote.o \
	src/reconcile.o \
	src/reconcile_local.o \
	src/fuzz.o \
	src/iblt.o \
	src/vote.o \
	src/quarantine.o \
	src/scrub.o \
	src/causal.o \
	src/conflict.o \
	src/conflict_rules.o \
	src/conflict_heads.o \
	src/conflict_episodes.o \
	src/logistic.o \
	src/peer_stats.o \
	src/progress.o \
	src/node.o \
	src/api.o
# pg_regress tests, in order (run by scripts/test.sh against a temporary server)
REGRESS = logs append digests tiers errors workers decoder model ledger
REGRESS_OPTS = --inputdir=test --outputdir=test/out

PGFILEDESC = "tieredlog - tiered, replicated, append-only keyed logs"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# zstd and xxhash (Debian: libzstd-dev, libxxhash-dev); libpq for peers (libpq-dev, which
# postgresql-server-dev-15 depends on)
SHLIB_LINK += -lzstd -lxxhash -L$(shell $(PG_CONFIG) --libdir) -lpq
PG_CPPFLAGS += -I$(shell $(PG_CONFIG) --includedir)

# Fail early on servers older than 15.
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
ifeq ($(shell test "$(PG_MAJOR)" -ge 15 2>/dev/null && echo ok),)
$(error tieredlog needs PostgreSQL 15 or later; $(PG_CONFIG) reports "$(shell $(PG_CONFIG) --version)")
endif

include $(PGXS)

.PHONY: regress-list
regress-list:
	@echo $(REGRESS)

# PGXS tracks no header dependencies: rebuild every object when any header changes.
$(OBJS): $(wildcard src/*.h)
