-- The rows about to change (core/row_changes.py): where each is (changed_row, its rowid) and the new
-- values of the columns that change.
CREATE OR REPLACE TEMP TABLE changed_rows AS
{changed_rows}
