-- DTM schema, version 8: attempts are counted even when they never end; a name may give up after N of them.

-- A name's retry limit: after this many failed or abandoned attempts a slot is no longer retried
-- automatically (it stays AVAILABLE, failing, with next_attempt_at = 'infinity', "gave up after N attempts")
-- until an operator re-queues it. NULL: retry forever, with capped backoff.
ALTER TABLE task_names ADD COLUMN max_attempts integer CHECK (max_attempts >= 1);

-- The attempts that have started and not ended. A holder's row lock lives in a transaction that a crash rolls
-- back, so nothing written in it can tell that an attempt began. So a slot is reserved first, in a transaction
-- of its own that commits before the slot is locked (a worker's lane commits its next slot's reservation with
-- the ending of the previous one: no extra round trip, no extra commit), and the statement that records the
-- slot's ending deletes its reservation in the same transaction. A reservation that outlives its holder (a
-- crash, a lost connection, a lost lock) is an abandoned attempt: whoever finds it counts it as a failed
-- attempt with backoff ("the holder went away") and deletes it. Nobody else reserves a reserved slot, so
-- even a slot whose every attempt kills its worker is never retried before its backoff has passed.
--
-- The table holds only the attempts in flight (one per lane at most) and those abandoned and not yet counted.
-- It has no foreign key to tasks: the check would share-lock the slot's row, which its holder locks FOR UPDATE.
CREATE TABLE attempts (
  id         bigint GENERATED ALWAYS AS IDENTITY,
  name       text NOT NULL,
  slot       timestamptz NOT NULL,
  -- The lane (a holding connection of one worker process) that reserved it; how a lane finds its own.
  lane       bigint NOT NULL,
  worker     text NOT NULL,
  -- When the reservation was made (clock time): the holder locks the slot within the same message, so a
  -- reservation older than a second whose slot nobody holds is abandoned.
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The backoff if this attempt is abandoned, from the holder's retry policy and the attempts before it.
  delay_ms   bigint NOT NULL CHECK (delay_ms >= 0),
  PRIMARY KEY (name, slot)
);
CREATE INDEX attempts_lane_idx ON attempts (lane);
