-- DTM schema, version 1. Applied by migrate() with search_path set to the target schema.

-- A task name's interval (and slot origin) is fixed when its first slot is created.
CREATE TABLE task_names (
  name        text PRIMARY KEY CHECK (char_length(name) BETWEEN 1 AND 200),
  interval_ms bigint NOT NULL CHECK (interval_ms >= 1000),
  origin      timestamptz NOT NULL DEFAULT 'epoch',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (name, slot). ACQUIRED is never stored: a holder locks its row (FOR UPDATE) in a transaction
-- that stays open for the work and writes the row only when the slot ends; other readers learn of live
-- holders from the `holders` view below. (Comment revised after this file first shipped; SQL unchanged.)
CREATE TABLE tasks (
  name            text NOT NULL REFERENCES task_names (name),
  slot            timestamptz NOT NULL,
  state           text NOT NULL DEFAULT 'AVAILABLE'
                  CHECK (state IN ('AVAILABLE', 'ACQUIRED', 'COMPLETE', 'SKIP')),
  created_by      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  acquired_by     text,
  acquired_at     timestamptz,
  completed_at    timestamptz,
  failed_attempts integer NOT NULL DEFAULT 0,
  message         text,
  next_attempt_at timestamptz, -- NULL: due now
  PRIMARY KEY (name, slot)     -- also serves "a name over a slot range"
);

-- "The oldest AVAILABLE slots of a name": acquireNext and the due/failing summaries.
CREATE INDEX tasks_available_idx ON tasks (name, slot) WHERE state = 'AVAILABLE';

-- Every committed transition, written in the transition's own transaction.
CREATE TABLE task_history (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL,
  slot       timestamptz NOT NULL,
  from_state text, -- NULL when the slot was created
  to_state   text NOT NULL,
  actor      text,
  message    text,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_history_slot_idx ON task_history (name, slot, id);

-- The key of the transaction-scoped advisory lock that a holder takes beside its row lock. Shared advisory
-- locks never block each other, so this lock only makes the holder visible (pg_locks); the row lock is the
-- mutex. The schema is part of the key so that two schemas in one database do not see each other's holders.
DO $$
BEGIN
  EXECUTE format($f$
    CREATE FUNCTION slot_lock_key(name text, slot timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashtextextended(%L || '/' || name || '/' || (extract(epoch FROM slot) * 1000)::bigint, 0)
  $f$, current_schema());
END $$;

-- Live holders: the advisory locks granted right now in this database, with the holder's worker name
-- (its application_name during the transaction) and since when. Reading it never blocks anyone.
CREATE VIEW holders AS
SELECT DISTINCT ON (lock_key) lock_key, worker, since
FROM (
  SELECT (l.classid::bigint << 32) | l.objid::bigint AS lock_key,
         a.application_name AS worker,
         a.xact_start AS since
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory'
    AND l.granted
    AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
) held;

-- Committed transitions are announced on the channel '<schema>.events' (delivered at commit). A statement
-- that records many transitions at once sends one summary per name instead of one notification per slot.
CREATE FUNCTION notify_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  channel text := TG_TABLE_SCHEMA || '.events';
BEGIN
  IF (SELECT count(*) FROM new_rows) <= 100 THEN
    PERFORM pg_notify(channel, json_build_object(
      'name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200), 'at', at)::text)
    FROM new_rows;
  ELSE
    PERFORM pg_notify(channel, json_build_object('bulk', true, 'name', name, 'count', count(*))::text)
    FROM new_rows GROUP BY name;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER task_history_notify
AFTER INSERT ON task_history
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION notify_transitions();
