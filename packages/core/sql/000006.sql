-- DTM schema, version 6: a holder's ending is recorded, not announced; subscribers read the history instead.
--
-- A transaction that sends a notification takes a lock on the whole database at its commit, which it holds
-- until the commit is durable, so that notifications are queued in commit order. Every notifying
-- transaction commits alone: with one notification per slot, workers could not share a WAL flush (group
-- commit), and the slots per second of a whole fleet were capped by one disk flush per slot. Measured on
-- PostgreSQL 15 with fsync on, 16 lanes of the worker's statements: 2,300 slots/s with the notification,
-- 5,100 without; with fsync off, a quarter more without.
--
-- So the statements that end a held slot no longer notify '<schema>.events' (holder-statements.ts). A
-- subscriber (the core's subscribe) reads what it has not seen yet from task_history instead: the rows of
-- transactions that had not ended at its last read. Each row records the top-level transaction that wrote it
-- (`xid`, indexed); the last read's snapshot tells which transactions those are: any id from its xmax on,
-- and the ids it listed as running. Notifications from every other writer (announce()) stay: a subscriber
-- reads at once when one arrives, and otherwise every few hundred milliseconds.
--
-- Readers of '<schema>.events' from before this version no longer hear holders' endings: upgrade them (the
-- API) with the workers. Rows recorded before this version have no xid; no reader needs them.
ALTER TABLE task_history ADD COLUMN xid xid8;
ALTER TABLE task_history ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX task_history_xid_idx ON task_history (xid);
