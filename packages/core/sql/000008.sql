-- DTM schema, version 8: attempts are counted even when they never end; a name may give up after N of them.

-- A name's retry limit: after this many failed or abandoned attempts a slot is no longer retried
-- automatically (it stays AVAILABLE, failing, with next_attempt_at = 'infinity', "gave up after N attempts")
-- until an operator re-queues it. NULL: retry forever, with capped backoff.
ALTER TABLE task_names ADD COLUMN max_attempts integer CHECK (max_attempts >= 1);

-- Each lane's (a holding connection of a worker process) latest reservation, one row per lane. A holder's row
-- lock lives in a transaction that a crash rolls back, so nothing written in it can tell that an attempt began.
-- So a slot is reserved first, in a transaction that commits before the slot is locked (a worker's lane
-- reserves its next slot in the transaction that ends the previous one: no extra round trip, no extra commit),
-- and the statement that records the slot's ending closes the reservation, in its own transaction, without
-- writing this row (see reserved_at). An open reservation that outlives its holder (a crash, a lost
-- connection, a lost lock) is an abandoned attempt: whoever finds it counts it as a failed attempt with
-- backoff ("the holder went away") and deletes the row. Nobody reserves a slot with an open reservation, so
-- even a slot whose every attempt kills its worker is never retried before its backoff has passed.
--
-- A lane's row is updated in place, once per slot: HOT updates on a table of a few pages, which the reserving
-- statement reads whole. An index on (name, slot) would make every update a new index entry and leave dead
-- rows that every reservation would read past. No foreign key to tasks either: its check would share-lock the
-- slot's row, which its holder locks FOR UPDATE.
CREATE TABLE attempts (
  -- The lane's id: random, new with every connection.
  lane       bigint PRIMARY KEY,
  -- The reserved slot (the lane's latest, open or closed); NULL once given back unreserved.
  name       text,
  slot       timestamptz,
  worker     text NOT NULL,
  -- When the slot was reserved (clock time): its holder locks it within the same message, so a reservation
  -- older than a second whose slot nobody holds is abandoned.
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The start of the transaction that reserved it (now()). The slot's ending sets its acquired_at to the
  -- start of the holding transaction, which is never earlier: a reservation is open while the slot's
  -- acquired_at is before this, so an ending closes it without writing this row.
  reserved_at timestamptz NOT NULL DEFAULT now(),
  -- The backoff if this attempt is abandoned, from the holder's retry policy and the attempts before it.
  delay_ms   bigint NOT NULL DEFAULT 0 CHECK (delay_ms >= 0)
) WITH (fillfactor = 50);
