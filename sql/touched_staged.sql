-- The enterprises of a first Full's staged enterprise file: every one is new, every one is named.
CREATE OR REPLACE TEMP TABLE touched_enterprises AS
SELECT DISTINCT {key} AS entity_number FROM {staging_table}
WHERE job_id = $job_id AND operation = 'insert';
