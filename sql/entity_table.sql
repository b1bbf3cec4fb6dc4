-- One entity table; its name and columns come from kbo_pipeline/core/entities.py.
-- History is the table itself: a delete retires rows (_is_current = false, _deleted_at_extract = N),
-- an insert adds rows stamped with the extract that brought them. The state as of extract K is
--   _extract_number <= K AND (_deleted_at_extract IS NULL OR _deleted_at_extract > K)
CREATE TABLE IF NOT EXISTS {table} (
    {columns},
    _snapshot_date DATE NOT NULL,
    _extract_number INTEGER NOT NULL,
    _is_current BOOLEAN NOT NULL,
    _deleted_at_extract INTEGER
);
