-- What extract k changed in {table}: every row it added or retired (change = 'added' | 'retired'), the
-- enterprise the row belongs to, and the kind of change of its key (kind):
--   new        rows added under a key never seen before
--   stopped    rows retired, none added back
--   changed    rows retired and added back with other values (or a key seen before coming back)
--   unchanged  rows retired and added back identically: a re-delivery, which the register does often
--   renamed    (enterprise) names changed in place by the extract's denominations: the row retired with
--              its old names and added with its new ones
-- Rows are compared on the columns of the CSV ({compared}); names an extract changed without
-- delivering the row again are the 'renamed' rows.
-- _extract_number is the extract that added the row (k for an added row); whether and when a row was
-- retired later is left out, so that the change set of k stays the same once k is applied.
--   SELECT * FROM changes_in_{table}(148) WHERE kind <> 'unchanged';
CREATE OR REPLACE MACRO changes_in_{table}(k) AS TABLE
WITH touched AS (
    SELECT 'added' AS change, * FROM {table} WHERE _extract_number = k
    UNION ALL
    SELECT 'retired' AS change, * FROM {table} WHERE _deleted_at_extract = k{renamed_rows}
),{renamed_keys}
per_key AS (
    SELECT {key} AS change_key,
           count(*) FILTER (WHERE change = 'added') AS added,
           count(*) FILTER (WHERE change = 'retired') AS retired,
           -- an order-free digest of each side's rows: equal multisets of rows, equal sums
           coalesce(sum(hash(struct_pack({compared}))) FILTER (WHERE change = 'added'), 0) AS added_digest,
           coalesce(sum(hash(struct_pack({compared}))) FILTER (WHERE change = 'retired'), 0) AS retired_digest
    FROM touched
    GROUP BY ALL
),
-- Keys added without being retired that an earlier extract had: not new. Written as a filter on the
-- table (a semi join probing it), not NOT EXISTS: DuckDB would build its hash table on the whole table.
seen_before AS (
    SELECT DISTINCT {key} AS change_key FROM {table}
    WHERE _extract_number < k AND {key} IN (SELECT change_key FROM per_key WHERE retired = 0)
),
kinds AS (
    SELECT per_key.change_key,
           CASE{renamed_kind}
               WHEN retired = 0 AND seen_before.change_key IS NULL THEN 'new'
               WHEN added = 0 THEN 'stopped'
               WHEN added = retired AND added_digest = retired_digest THEN 'unchanged'
               ELSE 'changed'
           END AS kind
    FROM per_key LEFT JOIN seen_before USING (change_key)
){establishments}
SELECT t.change, kinds.kind, {enterprise}t.* EXCLUDE (change, _is_current, _deleted_at_extract)
FROM touched t
JOIN kinds ON kinds.change_key = t.{key}{establishment_join}
ORDER BY ALL;
