-- Live holders look up each reserved slot by key. As a join, the planner could read every AVAILABLE slot of
-- a name instead, when the statistics predate the name's slots (a backfill just made): a LATERAL subquery with
-- LIMIT is never flattened into a join, so the cost follows the lanes whatever the statistics say.
CREATE OR REPLACE VIEW holders AS
SELECT t.name, t.slot, t.failed_attempts, s.worker, s.since
FROM (SELECT DISTINCT name, slot FROM attempts WHERE name IS NOT NULL) a
CROSS JOIN LATERAL (
  SELECT t.name, t.slot, t.failed_attempts, t.xmax
  FROM tasks t
  WHERE t.name = a.name AND t.slot = a.slot AND t.state = 'AVAILABLE'
  LIMIT 1
) t
JOIN holding_sessions s ON s.xid = t.xmax;
