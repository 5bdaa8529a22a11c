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
-- only once due; a worker that locks one still waiting out its backoff lets it go at once.) Each row is
-- tested against the running transaction ids, read once; only the few held rows are then matched to
-- their session. (As a join, the planner may rescan the rows once per running transaction.)
CREATE VIEW holders AS
SELECT t.name, t.slot, t.failed_attempts, s.worker, s.since
FROM tasks t
CROSS JOIN LATERAL unnest((SELECT array_agg(h) FROM holding_sessions h)) s
WHERE t.state = 'AVAILABLE' AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= now())
  AND t.xmax = ANY (ARRAY(SELECT xid FROM holding_sessions))
  AND s.xid = t.xmax;

-- Committed transitions are announced by the statements that record them, no longer by a trigger: the
-- trigger's machinery (a transition table, a PL/pgSQL call and its queries per statement) cost the server
-- about a fifth of a slot's time, several times what the notifications themselves cost. A holder's two
-- statements call pg_notify themselves (holder-statements.ts); every other writer records through one
-- statement per operation that ends with announce() below. As before, '<schema>.events' carries one
-- notification per transition, or one summary per name for a statement that records more than 100.
--
-- Workers wake on '<schema>.work' instead, whose payload is the name of a slot that became AVAILABLE (once
-- per name and transaction: the server drops duplicates), so that they are not sent every transition.
DROP TRIGGER task_history_notify ON task_history;
DROP FUNCTION notify_transitions();

-- A transition's notification on '<schema>.events', written in one place for every writer (and read by the
-- core's subscribe). A plain SQL expression: the planner inlines it into the statements that call it.
CREATE FUNCTION transition_payload(name text, slot timestamptz, from_state text, to_state text, actor text,
                                   at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN json_build_object('name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200),
                         'at', at)::text;

DO $$
BEGIN
  EXECUTE format($f$
    CREATE FUNCTION announce(recorded task_history[]) RETURNS void LANGUAGE plpgsql AS $body$
    BEGIN
      IF cardinality(recorded) <= 100 THEN
        PERFORM pg_notify(%1$L, %3$I.transition_payload(r.name, r.slot, r.from_state, r.to_state, r.actor, r.at))
        FROM unnest(recorded) r;
      ELSE
        PERFORM pg_notify(%1$L, json_build_object('bulk', true, 'name', r.name, 'count', count(*))::text)
        FROM unnest(recorded) r GROUP BY r.name;
      END IF;
      PERFORM pg_notify(%2$L, r.name) FROM unnest(recorded) r WHERE r.to_state = 'AVAILABLE' GROUP BY r.name;
    END $body$
  $f$, current_schema() || '.events', current_schema() || '.work', current_schema());
END $$;
