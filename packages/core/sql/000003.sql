-- The recount looks up each bucket's slots (and, a level up, each bucket's four children) by key, in a LATERAL
-- subquery. As joins, the planner could match every bucket against every slot of its name (a hash join on the
-- name): a backfill's half a million changed slots then took minutes to recount instead of seconds.
CREATE OR REPLACE FUNCTION recount_buckets(names text[], idxs bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lvl smallint;
BEGIN
  WITH wanted AS (
    SELECT DISTINCT w.name, w.idx, n.origin, n.interval_ms
    FROM unnest(names, idxs) AS w (name, idx)
    JOIN task_names n ON n.name = w.name
  ), counted AS (
    SELECT w.name, w.idx, r.*
    FROM wanted w
    CROSS JOIN LATERAL (
      SELECT count(*) AS slots,
             count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts = 0) AS available,
             count(*) FILTER (WHERE t.state = 'AVAILABLE' AND t.failed_attempts > 0) AS failing,
             count(*) FILTER (WHERE t.state = 'COMPLETE') AS complete,
             count(*) FILTER (WHERE t.state = 'SKIP') AS skip,
             coalesce(max(t.failed_attempts), 0) AS max_failed_attempts
      FROM tasks t
      WHERE t.name = w.name
        AND t.slot >= slot_start(w.idx * 16, w.origin, w.interval_ms)
        AND t.slot < slot_start((w.idx + 1) * 16, w.origin, w.interval_ms)
    ) r
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
      SELECT p.name, p.idx, r.*
      FROM unnest(names, idxs) AS p (name, idx)
      CROSS JOIN LATERAL (
        SELECT coalesce(sum(c.slots), 0) AS slots, coalesce(sum(c.available), 0) AS available,
               coalesce(sum(c.failing), 0) AS failing, coalesce(sum(c.complete), 0) AS complete,
               coalesce(sum(c.skip), 0) AS skip, coalesce(max(c.max_failed_attempts), 0) AS max_failed_attempts
        FROM slot_counts c
        WHERE c.name = p.name AND c.level = lvl - 1 AND c.idx BETWEEN p.idx * 4 AND p.idx * 4 + 3
      ) r
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
-- (Replacing a function drops its settings: pin its search_path to this schema again.)
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION recount_buckets(text[], bigint[]) SET search_path = %I', current_schema());
END $$;
