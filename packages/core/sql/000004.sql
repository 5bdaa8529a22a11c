-- DTM schema, version 4: a holder's ending announces its two transitions in one notification, not two.
--
-- The statement that ends a held slot records both of its transitions: AVAILABLE → ACQUIRED when the slot
-- was taken, then ACQUIRED → its end (see holder-statements.ts). It sent a notification for each; now it
-- sends one, the ending transition's payload with "acquiredAt", the time of the first transition (which has
-- the same slot and actor). The core's subscribe expands it back into the two transitions, in that order,
-- so its subscribers see what they saw before. Each notification is queued in the transaction, checked for
-- duplicates at commit and delivered to every listening session: a fair part of a slot's cost on the server.
--
-- The payload stays written in one place: transition_payload() takes the first transition's time as an
-- optional last argument. Every other writer (announce()) calls it as before, and gets what it got before.

DROP FUNCTION transition_payload(text, timestamptz, text, text, text, timestamptz);

CREATE FUNCTION transition_payload(name text, slot timestamptz, from_state text, to_state text, actor text,
                                   at timestamptz, acquired_at timestamptz DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
  WHEN acquired_at IS NULL THEN
    json_build_object('name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200),
                      'at', at)
  ELSE
    json_build_object('name', name, 'slot', slot, 'from', from_state, 'to', to_state, 'actor', left(actor, 200),
                      'at', at, 'acquiredAt', acquired_at)
END::text;
