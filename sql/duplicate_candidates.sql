-- Duplicates in one staged insert file, first pass: the hashes that more than one row shares, over the
-- columns compared (the key in a table of one row per key, every column from the file elsewhere).
-- Grouping one 64-bit value is the cheapest exact-enough pass over every row of a Full (about 1 s per
-- 10 M rows here); the rows behind these hashes are then compared column by column
-- (duplicate_rows.sql), so a hash collision drops nothing.
CREATE OR REPLACE TEMP TABLE duplicate_candidates AS
SELECT hash({compared}) AS h
FROM {target}
WHERE {rows_of_file}
GROUP BY h
HAVING count(*) > 1;
