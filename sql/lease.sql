-- The right to import into a database shared by machines (MotherDuck): one row, who holds it and since
-- when, and the last sign of life (each step of the holder's run renews it). The fixed lease_name makes
-- two takers conflict: of two transactions inserting it, one fails. core/lease.py decides; core/ledger.py
-- writes it. Created on first use: the lease is taken before the run brings the schema up to date.
CREATE TABLE IF NOT EXISTS import_lease (
    lease_name VARCHAR PRIMARY KEY,
    holder VARCHAR NOT NULL,       -- "dagster run <id>", or "kbo <command>"
    worker VARCHAR NOT NULL,       -- JSON: host, boot id, pid namespace, pid, start time (core/run_worker.py)
    since TIMESTAMP NOT NULL,
    heartbeat TIMESTAMP NOT NULL
);
