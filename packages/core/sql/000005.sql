-- DTM schema, version 5: a holder's ending says whether it recorded a message.
--
-- A reader that keeps the slots in memory (the API's slot index) reads back every row a notification names.
-- For the commonest transition, a holder's ending to COMPLETE or SKIP without a message, the notification
-- already says all there is: the state, no next attempt, failed attempts unchanged, no message. With
-- "hasMessage" in the payload such a reader can apply it as it hears it, and read back only the rest: the
-- endings that recorded a message, failures, and every other writer's transitions, whose payloads are as
-- they were.

DROP FUNCTION transition_payload(text, timestamptz, text, text, text, timestamptz, timestamptz);

CREATE FUNCTION transition_payload(name text, slot timestamptz, from_state text, to_state text, actor text,
                                   at timestamptz, acquired_at timestamptz DEFAULT NULL,
                                   has_message boolean DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
  WHEN acquired_at IS NULL THEN
    json_build_object('name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200),
                      'at', at)
  ELSE
    json_build_object('name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200),
                      'at', at, 'acquiredAt', acquired_at, 'hasMessage', has_message)
END::text;
