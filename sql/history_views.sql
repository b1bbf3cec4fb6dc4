-- For analysts: the current rows of an entity table, and its state as of any applied extract K:
--   SELECT * FROM current_enterprise;   SELECT * FROM enterprise_as_of(147);
CREATE OR REPLACE VIEW current_{table} AS SELECT * FROM {table} WHERE _is_current;
CREATE OR REPLACE MACRO {table}_as_of(k) AS TABLE
    SELECT * FROM {table} WHERE _extract_number <= k AND (_deleted_at_extract IS NULL OR _deleted_at_extract > k);
