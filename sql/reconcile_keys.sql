-- Reconciling a Full with the current state: the keys of one table whose current rows differ from the
-- Full's rows (compared as multisets: row count and the sum of row hashes), or that only one side has.
CREATE OR REPLACE TEMP TABLE reconcile_changed AS
WITH current_rows AS (
    SELECT {key} AS k, count(*) AS n, sum(hash({compared})::HUGEINT) AS h FROM {table} WHERE _is_current GROUP BY {key}
),
full_rows AS (
    SELECT {key} AS k, count(*) AS n, sum(hash({compared})::HUGEINT) AS h FROM reconcile_full GROUP BY {key}
)
SELECT coalesce(c.k, f.k) AS k, c.k IS NOT NULL AS in_current, f.k IS NOT NULL AS in_full
FROM current_rows c FULL OUTER JOIN full_rows f ON c.k = f.k
WHERE c.n IS DISTINCT FROM f.n OR c.h IS DISTINCT FROM f.h;
