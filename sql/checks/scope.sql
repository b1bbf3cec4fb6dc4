-- Every enterprise, establishment or branch number on a row extract $extract inserted or retired
-- ({numbers}: a UNION of the check_rows_<table> reference columns), and which of them are current
-- enterprises and establishments. Orphan checks look up parents here, not in the whole tables: a
-- child row in scope has its number in check_scope, so its parent, if current, is in these.
CREATE OR REPLACE TEMP TABLE check_scope AS SELECT DISTINCT number FROM ({numbers});
CREATE OR REPLACE TEMP TABLE check_enterprises AS
SELECT DISTINCT entity_number AS number FROM enterprise
WHERE _is_current AND entity_number IN (SELECT number FROM check_scope);
CREATE OR REPLACE TEMP TABLE check_establishments AS
SELECT DISTINCT establishment_number AS number FROM establishment
WHERE _is_current AND establishment_number IN (SELECT number FROM check_scope);
-- The numbers in scope without a current parent: only rows hanging off these can be orphans, and they
-- are few (an enterprise stopped today), so the orphan checks read a handful of rows, not the tables.
CREATE OR REPLACE TEMP TABLE check_without_enterprise AS
SELECT number FROM check_scope WHERE number NOT IN (SELECT number FROM check_enterprises);
CREATE OR REPLACE TEMP TABLE check_without_parent AS
SELECT number FROM check_without_enterprise WHERE number NOT IN (SELECT number FROM check_establishments);
