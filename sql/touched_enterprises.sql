-- The enterprises whose primary name an extract can have changed: those whose enterprise row or
-- denominations the extract inserted or retired. Computed before a rollback undoes them. Filters on
-- one integer column each, so the inserts are found from the row groups' min/max.
CREATE OR REPLACE TEMP TABLE touched_enterprises AS
SELECT entity_number FROM enterprise WHERE _extract_number = $extract
UNION
SELECT entity_number FROM enterprise WHERE _deleted_at_extract = $extract
UNION
SELECT entity_number FROM denomination WHERE _extract_number = $extract
UNION
SELECT entity_number FROM denomination WHERE _deleted_at_extract = $extract;
