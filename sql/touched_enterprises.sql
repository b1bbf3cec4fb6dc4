-- The enterprises whose primary name an extract can have changed: those whose enterprise row or
-- denominations the extract inserted or retired. Computed before a rollback undoes them.
CREATE OR REPLACE TEMP TABLE touched_enterprises AS
SELECT entity_number FROM enterprise WHERE _extract_number = $extract OR _deleted_at_extract = $extract
UNION
SELECT entity_number FROM denomination WHERE _extract_number = $extract OR _deleted_at_extract = $extract;
