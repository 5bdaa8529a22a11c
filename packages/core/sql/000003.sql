-- DTM schema, version 3: live holders are found through their row locks, not through an advisory lock that
-- each holder took beside its row lock (it cost the server about a fifth of a slot's time).
--
-- A holder's row lock writes its transaction id into the row's xmax, and every transaction that has an id
-- holds an exclusive lock on it (pg_locks, locktype 'transactionid') until it ends. So a committed
-- AVAILABLE row whose xmax is the id of a transaction running right now is held by that transaction's
-- session; the session's application_name is the worker's name (set once per connection) and its
-- transaction started when it took the slot. A row whose locker has ended keeps the stale id in its xmax,
-- but that id is then in no one's lock. Reading this never blocks anyone.

DROP VIEW holders;
DROP INDEX tasks_lock_key_idx;
DROP FUNCTION slot_lock_key(text, timestamptz);

-- The sessions that could hold a slot: every transaction with an id, and who runs it. Readers join it to
-- the AVAILABLE rows they read (`t.xmax = h.xid`), which costs one hash probe per row.
CREATE VIEW holding_sessions AS
SELECT l.transactionid AS xid, a.application_name AS worker, a.xact_start AS since
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'transactionid'
  AND l.mode = 'ExclusiveLock'
  AND l.granted;

-- Live holders: the held slots, with the holder's worker name and since when. It reads every due AVAILABLE
-- row that a filter on name and slot leaves (through tasks_available_idx), so filter it. (A slot is held
-- only once due; a worker that locks one still waiting out its backoff lets it go at once.)
CREATE VIEW holders AS
SELECT t.name, t.slot, t.failed_attempts, h.worker, h.since
FROM tasks t
JOIN holding_sessions h ON h.xid = t.xmax
WHERE t.state = 'AVAILABLE' AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now());

-- Committed transitions are still announced on '<schema>.events', now by a row trigger: one notification
-- per transition. The statement trigger's transition table and queries cost the server more than the rest
-- of a slot's bookkeeping, for the two rows that a holder writes per slot. A writer that changes many slots
-- at once marks its transaction (SET LOCAL dtm.announce = 'summary'), and its statements announce as
-- before: one notification per transition up to 100, else one summary per name.
--
-- Workers wake on '<schema>.work' instead, whose payload is the name of a slot that became AVAILABLE (once
-- per name and transaction: the server drops duplicates), so that they are not sent every transition.
DROP TRIGGER task_history_notify ON task_history;

CREATE FUNCTION notify_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_SCHEMA || '.events', json_build_object(
    'name', NEW.name, 'slot', NEW.slot, 'from', NEW.from_state, 'to', NEW.to_state, 'actor', left(NEW.actor, 200),
    'at', NEW.at)::text);
  IF NEW.to_state = 'AVAILABLE' THEN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.work', NEW.name);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
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
  PERFORM pg_notify(TG_TABLE_SCHEMA || '.work', name) FROM new_rows WHERE to_state = 'AVAILABLE' GROUP BY name;
  RETURN NULL;
END $$;

CREATE TRIGGER task_history_notify_each
AFTER INSERT ON task_history
FOR EACH ROW WHEN (current_setting('dtm.announce', true) IS DISTINCT FROM 'summary')
EXECUTE FUNCTION notify_transition();

CREATE TRIGGER task_history_notify_summary
AFTER INSERT ON task_history
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT WHEN (current_setting('dtm.announce', true) = 'summary')
EXECUTE FUNCTION notify_transitions();
