-- Duplicates in one staged insert file, second pass (run only when duplicate_candidates.sql found
-- some): the rows another row makes redundant. In a table of one row per key that is every row of a
-- key but its last ({order} DESC); elsewhere every repeat of an identical row but its first. A row's
-- position in its file is its rowid's offset from the file's first row: DuckDB keeps a CSV's order on
-- insert (preserve_insertion_order) and one INSERT appends its rows contiguously.
WITH staged AS (
    SELECT rowid AS r, hash({compared}) AS h, struct_pack({compared}) AS compared
    FROM {target}
    WHERE {rows_of_file}
),
ranked AS (
    SELECT r, row_number() OVER (PARTITION BY compared ORDER BY r {order}) AS nth
    FROM staged
    WHERE h IN (SELECT h FROM duplicate_candidates)
)
SELECT r, r - (SELECT min(r) FROM staged) AS position
FROM ranked
WHERE nth > 1
ORDER BY r;
