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
--
-- The keys extract k touched in {table}: what it added, retired or renamed. The rows it added are at the
-- table's end, and so are the rows a daily update retired (moved there: core/row_changes.py); the row
-- groups' min/max of _extract_number and _deleted_at_extract skip every other row group.
CREATE OR REPLACE MACRO changed_keys_{table}(k) AS TABLE
SELECT {key} AS key FROM {table} WHERE _extract_number = k
UNION
SELECT {key} FROM {table} WHERE _deleted_at_extract = k{renamed_key_union};

-- changes_in_{table}(k) given those keys (a list). Every lookup of the table by key is restricted to
-- them: given as a constant (a bound parameter), DuckDB skips every row group whose min/max of {key}
-- holds none of them, so the change set of a daily update reads what the update touched, not the
-- table. Keys outside the list change nothing: a touched row's key is always in it.
CREATE OR REPLACE MACRO changes_of_{table}(k, keys) AS TABLE
WITH touched AS (
    SELECT 'added' AS change, * FROM {table} WHERE _extract_number = k
    UNION ALL
    SELECT 'retired' AS change, * FROM {table}
    WHERE _deleted_at_extract = k AND {key} IN (SELECT unnest(keys)){renamed_rows}
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
-- Keys added without being retired that an earlier extract had: not new. Grouped, with the extract
-- tested after the join: a filter on _extract_number made DuckDB misjudge the table as the smaller side
-- and build its hash table on it (0.23 s against 0.04 s for denomination on the full register).
seen_before AS (
    SELECT {key} AS change_key FROM {table}
    WHERE {key} IN (SELECT unnest(keys)) AND {key} IN (SELECT change_key FROM per_key WHERE retired = 0)
    GROUP BY ALL
    HAVING min(_extract_number) < k
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

-- What extract k changed in {table} (see above), e.g. from a SQL prompt:
--   SELECT * FROM changes_in_{table}(148) WHERE kind <> 'unchanged';
CREATE OR REPLACE MACRO changes_in_{table}(k) AS TABLE
SELECT * FROM changes_of_{table}(k, (SELECT list(key) FROM changed_keys_{table}(k)));

{first_changes}
