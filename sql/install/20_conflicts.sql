-- ---- sql/install/20_conflicts.sql: conflict episodes, what writers had seen, source priorities
-- Conflict episodes: the heads (newest records) of two origins for one (log, key), neither of
-- which had seen the other. While both origins keep writing without seeing each other the
-- episode moves to the newer pair (its row is updated); a record that saw the other side ends
-- it. Sides a and b are the episode's current pair, a the record with the smaller rid. Local to
-- this node: every node records the same pair of current heads, with the same decision (conflict.c).
CREATE TABLE tieredlog.conflict (
	conflict_id			bigserial PRIMARY KEY,
	log_name			text COLLATE "C" NOT NULL,
	key					text COLLATE "C" NOT NULL,
	rid_a				uuid NOT NULL,
	origin_a			text NOT NULL,
	seq_a				bigint NOT NULL,
	ts_a				timestamptz NOT NULL,
	source_a			text,
	payload_a			jsonb NOT NULL,
	rid_b				uuid NOT NULL,
	origin_b			text NOT NULL,
	seq_b				bigint NOT NULL,
	ts_b				timestamptz NOT NULL,
	source_b			text,
	payload_b			jsonb NOT NULL,
	arrived				char(1) NOT NULL CHECK (arrived IN ('a', 'b')),	-- the side whose arrival raised it
	via					text NOT NULL CHECK (via IN ('streaming', 'reconciliation')),
	rule				text NOT NULL,
	status				text NOT NULL CHECK (status IN ('resolved_by_rule', 'pending', 'resolved')),
	winner				char(1) NOT NULL CHECK (winner IN ('a', 'b')),	-- provisional while pending
	reason				text NOT NULL,
	detected_at			timestamptz NOT NULL DEFAULT now(),
	resolved_at			timestamptz,
	resolved_by			text,		-- the role that decided, or the later record that superseded both
	decision_record		text,		-- 'origin:seq' of the record resolve_conflict() appended
	pairs				integer NOT NULL DEFAULT 1,	-- concurrent head pairs the episode went through here
	updated_at			timestamptz NOT NULL DEFAULT now(),	-- when it last moved to a newer pair here
	UNIQUE (log_name, key, rid_a, rid_b),
	CHECK (rid_a < rid_b)
);
CREATE INDEX conflict_pending ON tieredlog.conflict (log_name, key) WHERE status = 'pending';
-- the worker's settle pass: episodes written since its last pass (conflict.c)
CREATE INDEX conflict_updated ON tieredlog.conflict (updated_at);
-- an episode's lookup, the newest row of a key between two origins (conflict_store.c): within the
-- key, newest first; without it the plan walks the whole table backward through the primary key
CREATE INDEX conflict_key_recent ON tieredlog.conflict (log_name, key, conflict_id);
-- a log's conflicts by the time of their newer side: counted per segment (the segments view, the
-- scheduler's features); without it every segment read the whole table
CREATE INDEX conflict_log_time ON tieredlog.conflict (log_name, (greatest(ts_a, ts_b)));
-- the worker's retention pass finds settled conflicts past the retention without reading them all
CREATE INDEX conflict_resolved_at ON tieredlog.conflict (resolved_at);

-- Every record of the internal log _seen stored here, indexed: `writer` had stored the records
-- of `about` up to seen_seq before it wrote its record writer_seq (causal.c).
CREATE TABLE tieredlog.seen (
	writer				text COLLATE "C" NOT NULL,
	writer_seq			bigint NOT NULL,
	about				text COLLATE "C" NOT NULL,
	seen_seq			bigint NOT NULL,
	stored_at			timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (writer, about, writer_seq)
);
-- the worker's retention pass (conflict_store.c) finds the old witnesses without reading them all
CREATE INDEX seen_stored_at ON tieredlog.seen (stored_at);

-- Priorities of source applications for the source_priority rule (higher wins; unlisted: 0).
CREATE TABLE tieredlog.source_priority (
	source				text PRIMARY KEY,
	priority			integer NOT NULL
);


