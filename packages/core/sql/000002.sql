-- DTM schema, version 2: indexes for readers (the API's grid, names summary and live overlay). Each one is
-- partial, so it holds only the few rows that are not COMPLETE (or that needed retries).

-- The live overlay joins the few granted advisory locks (the `holders` view) to the AVAILABLE rows they
-- stand for. Without this index every reader hashes the lock key of every AVAILABLE row it reads; with it,
-- each holder is one index probe.
CREATE INDEX tasks_lock_key_idx ON tasks (slot_lock_key(name, slot)) WHERE state = 'AVAILABLE';

-- SKIP slots of a name over a slot range, without reading the COMPLETE ones (AVAILABLE has
-- tasks_available_idx).
CREATE INDEX tasks_skip_idx ON tasks (name, slot) WHERE state = 'SKIP';

-- Slots that needed retries: failing ones (AVAILABLE) and those that completed after failing. `state` is
-- included so that counting the failing ones reads the index only.
CREATE INDEX tasks_retried_idx ON tasks (name, slot) INCLUDE (state) WHERE failed_attempts > 0;
