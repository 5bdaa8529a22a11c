-- An abandoned attempt is inferred by the next holder instead of reserved beforehand. A holder's row lock
-- writes its transaction's id into the row's xmax, and that id stays there, unchanged, until the row is next
-- locked or written. Every way a holder ends a slot writes the row (a new row version, whose xmax is 0) or
-- commits (release, and a take that found nothing: their lock-only xmax is a committed transaction's). So
-- an AVAILABLE row whose xmax is the id of an aborted transaction was last locked by a holder that went away
-- without recording an ending (its process died, or it lost its connection or its lock), and the worker that
-- locks it next counts that as a failed attempt, with backoff, before anything else. Nothing is written
-- before a slot is taken, so a slot costs one row lock and one commit, as it did before `attempts`.
-- Whoever locks an AVAILABLE row other than a holder must not roll back: re-queue and skip commit, and their
-- dry runs take no lock.
DROP VIEW holders;
DROP TABLE attempts;

-- Where live holders are found: one row per lane (a holding connection) that has held its slot for more
-- than a moment, written off the slot's path (see Lane in lane.ts) and overwritten by the lane's next such
-- slot. A row is only a pointer: the slot is held while its committed row is AVAILABLE and locked by a
-- transaction running now, whatever the row says. It also tells who held a slot whose holder went away.
CREATE TABLE lanes (
  lane          bigint PRIMARY KEY,
  name          text NOT NULL,
  slot          timestamptz NOT NULL,
  worker        text NOT NULL,
  since         timestamptz NOT NULL,
  -- The holding transaction's id, as the row's xmax has it.
  xid           xid NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 50);

-- Live holders look up each slot a lane names by key, in a LATERAL subquery with LIMIT that is never
-- flattened into a join (see 000002.sql): the cost follows the lanes, not the AVAILABLE slots.
CREATE VIEW holders AS
SELECT t.name, t.slot, t.failed_attempts, s.worker, s.since
FROM (SELECT DISTINCT name, slot FROM lanes) l
CROSS JOIN LATERAL (
  SELECT t.name, t.slot, t.failed_attempts, t.xmax
  FROM tasks t
  WHERE t.name = l.name AND t.slot = l.slot AND t.state = 'AVAILABLE'
  LIMIT 1
) t
JOIN holding_sessions s ON s.xid = t.xmax;
