-- Write the ids gisgrid.assign.store.reassign computed for one chunk's changed rows, given as
-- parallel arrays, to one assigned table (filled in by _update_sql: the table, quoted, and
-- for incidents the unassigned flag). A row is written only while its xmin is the one read:
-- nobody wrote it since (else their write, and the trigger if they moved it, stands).
-- Returns the ids written.
UPDATE {table} t
SET grid_id = v.grid_id, community_id = v.community_id, street_id = v.street_id,
    district_id = v.district_id{unassigned}
FROM unnest(CAST(:id AS bigint[]), CAST(:grid_id AS bigint[]),
            CAST(:community_id AS bigint[]), CAST(:street_id AS bigint[]),
            CAST(:district_id AS bigint[]), CAST(:xmin AS text[]))
     AS v(id, grid_id, community_id, street_id, district_id, xmin)
WHERE t.id = v.id AND t.xmin::text = v.xmin
RETURNING t.id
