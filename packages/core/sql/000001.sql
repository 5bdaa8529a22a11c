-- DTM schema, baseline (version 0.1.0). Applied by migrate() with search_path set to the target schema.
-- Migrations after this one are append-only: a released file is never edited.

-- ---------- slots ----------

-- A task name's interval (and slot origin) is fixed when its first slot is created.
CREATE TABLE task_names (
  name        text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 200),
  interval_ms bigint NOT NULL CHECK (interval_ms >= 1000),
  origin      timestamptz NOT NULL DEFAULT 'epoch',
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- The retry limit: after this many failed or abandoned attempts a slot is no longer retried automatically
  -- (it stays AVAILABLE, failing, with next_attempt_at = 'infinity', "gave up after N attempts") until an
  -- operator re-queues it. NULL: retry forever, with capped backoff.
  max_attempts integer CHECK (max_attempts >= 1)
);

-- One row per (name, slot). ACQUIRED is never stored: a holder locks its row (FOR UPDATE) in a transaction
-- that stays open for the work and writes the row only when the slot ends; others learn of live holders from
-- the `holders` view below.
CREATE TABLE tasks (
  name            text NOT NULL REFERENCES task_names (name),
  slot            timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'AVAILABLE' CHECK (state IN ('AVAILABLE', 'COMPLETE', 'SKIP')),
  created_by      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  acquired_by     text,
  acquired_at     timestamptz,
  completed_at    timestamptz,
  failed_attempts integer NOT NULL DEFAULT 0,
  message         text,
  next_attempt_at timestamptz, -- NULL: due now
  -- Also serves "a name over a slot range"; state and failed_attempts ride along so that counting the slots
  -- of a window reads the index only. (Every transition changes `state`, which partial indexes below name,
  -- so no update is HOT anyway: the wider entry costs no extra write.)
  PRIMARY KEY (name, slot) INCLUDE (state, failed_attempts)
);

-- "The oldest AVAILABLE slots of a name": taking the next slot, the due and failing summaries.
CREATE INDEX tasks_available_idx ON tasks (name, slot) WHERE state = 'AVAILABLE';
-- SKIP slots of a name over a slot range, without reading the COMPLETE ones.
CREATE INDEX tasks_skip_idx ON tasks (name, slot) WHERE state = 'SKIP';
-- Slots that needed retries: failing ones (AVAILABLE) and those that completed after failing.
CREATE INDEX tasks_retried_idx ON tasks (name, slot) INCLUDE (state) WHERE failed_attempts > 0;

-- ---------- history ----------

-- Every committed transition, written in the transition's own transaction, with that transaction's id
-- (`xid`): a reader that remembers its last snapshot reads exactly the rows of the transactions that had not
-- ended then (the core's subscribe, and the slot counts below), however late they commit.
CREATE TABLE task_history (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  slot       timestamptz NOT NULL,
  from_state text, -- NULL when the slot was created
  to_state   text NOT NULL,
  actor      text,
  message    text,
  at         timestamptz NOT NULL DEFAULT now(),
  xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX task_history_slot_idx ON task_history (name, slot, id);
CREATE INDEX task_history_xid_idx ON task_history (xid);

-- ---------- attempts ----------

-- The attempts that have started and not ended, one row per lane (a holding connection of a worker process).
-- A holder's row lock lives in a transaction that a crash rolls back, so nothing written in it can tell that an
-- attempt began. So a slot is reserved first, in a transaction that commits before the slot is locked (a
-- worker's lane reserves its next slot in the transaction that ends the previous one: no extra round trip, no
-- extra commit), and the statement that records the slot's ending closes the reservation in its own
-- transaction (see reserved_at). A reservation that outlives its holder (a crash, a lost connection, a lost lock) is an
-- abandoned attempt: whoever finds it counts it as a failed attempt with backoff ("the holder went away") and
-- deletes the row. Nobody else reserves a reserved slot, so even a slot whose every attempt kills its worker is
-- never retried before its backoff has passed.
--
-- A lane's row is updated in place, once per slot: HOT updates on a table of a few pages,
-- which is read whole by the reserving statement. An index on (name, slot) would make every update a new
-- index entry and leave dead rows that every reservation would read past. No foreign key to tasks either:
-- its check would share-lock the slot's row, which its holder locks FOR UPDATE.
CREATE TABLE attempts (
  -- The lane's id: random, new with every connection.
  lane       bigint PRIMARY KEY,
  -- The reserved slot; NULL while the lane holds none.
  name       text,
  slot       timestamptz,
  worker     text NOT NULL,
  -- When the slot was reserved (clock time): its holder locks it within the same message, so a reservation
  -- older than a second whose slot nobody holds is abandoned.
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The start of the transaction that reserved it (now()). The slot's ending sets its acquired_at to the
  -- start of the holding transaction, which is never earlier: a reservation is open while the slot's
  -- acquired_at is before this, so an ending closes it without writing this row.
  reserved_at timestamptz NOT NULL DEFAULT now(),
  -- The backoff if this attempt is abandoned, from the holder's retry policy and the attempts before it.
  delay_ms   bigint NOT NULL DEFAULT 0 CHECK (delay_ms >= 0)
) WITH (fillfactor = 50);

-- ---------- live holders ----------

-- A holder's row lock writes its transaction id into the row's xmax, and every transaction that has an id
-- holds an exclusive lock on it (pg_locks, locktype 'transactionid') until it ends. So a committed AVAILABLE
-- row whose xmax is the id of a transaction running right now is held by that transaction's session; the
-- session's application_name is the worker's name and its transaction started when it took the slot. A row
-- whose locker has ended keeps the stale id in its xmax, but that id is then in no one's lock. Reading this
-- never blocks anyone. Only the primary has it: a replica's pg_locks knows nothing of the primary's holders.

-- The sessions that could hold a slot: every transaction with an id, and who runs it.
CREATE VIEW holding_sessions AS
SELECT l.transactionid AS xid, a.application_name AS worker, a.xact_start AS since
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'transactionid'
  AND l.mode = 'ExclusiveLock'
  AND l.granted;

-- Live holders: the held slots, with the holder's worker name and since when. Every holder reserved its slot
-- in `attempts` before it locked it, so only the slots named there (one per lane) are looked at, each by
-- primary key: the cost follows the lanes, not the AVAILABLE slots. A slot is held when its committed row is
-- AVAILABLE and locked by a transaction running now.
CREATE VIEW holders AS
SELECT t.name, t.slot, t.failed_attempts, s.worker, s.since
FROM (SELECT DISTINCT name, slot FROM attempts WHERE name IS NOT NULL) a
JOIN tasks t ON t.name = a.name AND t.slot = a.slot
JOIN holding_sessions s ON s.xid = t.xmax
WHERE t.state = 'AVAILABLE';

-- ---------- announcements ----------

-- A holder's ending announces nothing: a transaction that notifies takes a database-wide lock at commit
-- until its commit is durable, so with a notification per slot workers could not share a WAL flush. Readers
-- read the history instead (see task_history.xid). Every other writer records through one statement per
-- operation that ends with announce(): once per name it changed on '<schema>.events' (so that subscribers
-- read now rather than at their next poll), and once per name with a slot that became AVAILABLE on
-- '<schema>.work' (what wakes workers). The server drops a payload sent twice in one transaction.
DO $$
BEGIN
  EXECUTE format($f$
    CREATE FUNCTION announce(recorded task_history[]) RETURNS void LANGUAGE plpgsql AS $body$
    BEGIN
      PERFORM pg_notify(%1$L, r.name) FROM unnest(recorded) r GROUP BY r.name;
      PERFORM pg_notify(%2$L, r.name) FROM unnest(recorded) r WHERE r.to_state = 'AVAILABLE' GROUP BY r.name;
    END $body$
  $f$, current_schema() || '.events', current_schema() || '.work');
END $$;

-- ---------- slot counts ----------

-- Reads of wide windows (the grid zoomed out, a name's totals) add up stored counts instead of the slots:
-- a request costs the cells it asks for, not the slots they cover nor the history kept.
--
-- Slots are numbered from their name's origin (slot_number). A bucket of level k holds the slots numbered
-- [idx × 16 × 4^k, (idx + 1) × 16 × 4^k): level 0 holds 16 slots, each level four of the one below, level 15
-- about 1.7 × 10^10 (545 years of one-second slots). Only buckets that hold a slot have a row.
--
-- The counts are kept by recounting, never by adding deltas, so that recounting twice is harmless: the API
-- sidecar (one process at a time) recounts the level-0 buckets that changed and then their parents, off the
-- workers' path. What changed is told by the history (the rows of transactions that had not ended at the
-- snapshot in counts_position) and, for rows changed by hand in SQL without a history row, by hand_changes.
-- A reader adds up the stored counts and recounts from the rows the level-0 buckets that changed since:
-- exact at its snapshot, however far behind the recounting is.

-- Epoch milliseconds. date_part's double precision is exact for milliseconds up to year 9999, and several times
-- faster per row than extract's numeric. STABLE, as date_part on timestamptz is, so that the planner inlines it.
CREATE FUNCTION epoch_ms(at timestamptz) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (date_part('epoch', at) * 1000)::bigint;

-- The number of the slot containing `slot`, floor division (slots before the origin have negative numbers).
CREATE FUNCTION slot_number(slot timestamptz, origin timestamptz, interval_ms bigint) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (epoch_ms(slot) - epoch_ms(origin) - ((epoch_ms(slot) - epoch_ms(origin)) % interval_ms + interval_ms) % interval_ms)
       / interval_ms;

-- The start of slot `n`.
CREATE FUNCTION slot_start(n bigint, origin timestamptz, interval_ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
RETURN origin + (n * interval_ms) * interval '1 millisecond';

CREATE TABLE slot_counts (
  name                text NOT NULL,
  level               smallint NOT NULL CHECK (level BETWEEN 0 AND 15),
  idx                 bigint NOT NULL,
  slots               integer NOT NULL, -- rows
  available           integer NOT NULL, -- AVAILABLE without a failed attempt
  failing             integer NOT NULL, -- AVAILABLE with failed attempts
  complete            integer NOT NULL,
  skip                integer NOT NULL,
  max_failed_attempts integer NOT NULL,
  PRIMARY KEY (name, level, idx)
);

-- How far the counts have been recounted: the snapshot of the last history read. One row; a recounter locks
-- it for its whole transaction, so that recounts never interleave.
CREATE TABLE counts_position (
  is_the_row boolean PRIMARY KEY DEFAULT true CHECK (is_the_row),
  snapshot   pg_snapshot NOT NULL
);
INSERT INTO counts_position (snapshot) VALUES (pg_current_snapshot());

-- Slots changed without a history row: by hand, in SQL. DTM's own writers set `dtm.records_history` in their
-- session or transaction (their history tells the counts), so the trigger's condition is all they pay.
CREATE TABLE hand_changes (
  id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  slot timestamptz NOT NULL
);

CREATE FUNCTION note_hand_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO hand_changes (name, slot) VALUES (OLD.name, OLD.slot);
  END IF;
  IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR (NEW.name, NEW.slot) IS DISTINCT FROM (OLD.name, OLD.slot)) THEN
    INSERT INTO hand_changes (name, slot) VALUES (NEW.name, NEW.slot);
  END IF;
  RETURN NULL;
END $$;
-- The function runs with the caller's search_path; pin it to this schema.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION note_hand_change() SET search_path = %I', current_schema());
END $$;

CREATE TRIGGER tasks_hand_change
AFTER INSERT OR UPDATE OR DELETE ON tasks
FOR EACH ROW
WHEN (current_setting('dtm.records_history', true) IS DISTINCT FROM 'on')
EXECUTE FUNCTION note_hand_change();

-- Recounts the level-0 buckets (`names[i]`, `idxs[i]`) from the slots, then their parents, level by level,
-- from their four children. A bucket left without slots loses its row.
CREATE FUNCTION recount_buckets(names text[], idxs bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lvl smallint;
BEGIN
  WITH wanted AS (
    SELECT DISTINCT w.name, w.idx, n.origin, n.interval_ms
    FROM unnest(names, idxs) AS w (name, idx)
    JOIN task_names n ON n.name = w.name
  ), counted AS (
    SELECT w.name, w.idx,
           count(t.slot) AS slots,
           count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts = 0) AS available,
           count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts > 0) AS failing,
           count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
           count(*) FILTER (WHERE t.state = 'SKIP') AS skip,
           coalesce(max(t.failed_attempts), 0) AS max_failed_attempts
    FROM wanted w
    LEFT JOIN tasks t ON t.name = w.name
                     AND t.slot >= slot_start(w.idx * 16, w.origin, w.interval_ms)
                     AND t.slot < slot_start((w.idx + 1) * 16, w.origin, w.interval_ms)
    GROUP BY w.name, w.idx
  ), emptied AS (
    DELETE FROM slot_counts c USING counted k
    WHERE k.slots = 0 AND c.name = k.name AND c.level = 0 AND c.idx = k.idx
  )
  INSERT INTO slot_counts
  SELECT name, 0, idx, slots, available, failing, complete, skip, max_failed_attempts
  FROM counted WHERE slots > 0
  ON CONFLICT (name, level, idx) DO UPDATE
  SET slots = excluded.slots, available = excluded.available, failing = excluded.failing,
      complete = excluded.complete, skip = excluded.skip, max_failed_attempts = excluded.max_failed_attempts;

  FOR lvl IN 1..15 LOOP
    SELECT array_agg(p.name), array_agg(p.idx) INTO names, idxs
    FROM (SELECT DISTINCT u.name, u.idx >> 2 AS idx FROM unnest(names, idxs) AS u (name, idx)) p;
    WITH counted AS (
      SELECT p.name, p.idx,
             coalesce(sum(c.slots), 0) AS slots, coalesce(sum(c.available), 0) AS available,
             coalesce(sum(c.failing), 0) AS failing, coalesce(sum(c.complete), 0) AS complete,
             coalesce(sum(c.skip), 0) AS skip, coalesce(max(c.max_failed_attempts), 0) AS max_failed_attempts
      FROM unnest(names, idxs) AS p (name, idx)
      LEFT JOIN slot_counts c ON c.name = p.name AND c.level = lvl - 1
                             AND c.idx BETWEEN p.idx * 4 AND p.idx * 4 + 3
      GROUP BY p.name, p.idx
    ), emptied AS (
      DELETE FROM slot_counts c USING counted k
      WHERE k.slots = 0 AND c.name = k.name AND c.level = lvl AND c.idx = k.idx
    )
    INSERT INTO slot_counts
    SELECT name, lvl, idx, slots, available, failing, complete, skip, max_failed_attempts
    FROM counted WHERE slots > 0
    ON CONFLICT (name, level, idx) DO UPDATE
    SET slots = excluded.slots, available = excluded.available, failing = excluded.failing,
        complete = excluded.complete, skip = excluded.skip, max_failed_attempts = excluded.max_failed_attempts;
  END LOOP;
END $$;
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION recount_buckets(text[], bigint[]) SET search_path = %I', current_schema());
END $$;
