-- DTM schema, version 7: announce() names what changed instead of describing each transition.
--
-- Since version 6 subscribers read the transitions from task_history (the core's subscribe); a notification
-- on '<schema>.events' only tells them to read now rather than at their next poll, and its payload is not
-- read. So every writer other than a holder announces once per name its statement recorded, with the name as
-- payload (the server drops the same payload sent twice in one transaction), instead of one JSON payload per
-- transition, or per name beyond 100. '<schema>.work' is unchanged. transition_payload() stays, unused by
-- this version: workers of versions before 6 still call it, as they finish their slots during an upgrade.
DO $$
BEGIN
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION announce(recorded task_history[]) RETURNS void LANGUAGE plpgsql AS $body$
    BEGIN
      PERFORM pg_notify(%1$L, r.name) FROM unnest(recorded) r GROUP BY r.name;
      PERFORM pg_notify(%2$L, r.name) FROM unnest(recorded) r WHERE r.to_state = 'AVAILABLE' GROUP BY r.name;
    END $body$
  $f$, current_schema() || '.events', current_schema() || '.work');
END $$;
