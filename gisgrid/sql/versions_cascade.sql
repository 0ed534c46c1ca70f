-- gisgrid.assign.versions.open_versions: the current areas below the ones being closed (at any
-- depth) that are not staged themselves. Their parent links name a closed version, so each is
-- closed too and reopened unchanged under its parent's new version (hierarchy by id, as
-- GridIndex and the assign trigger walk it, stays right on both sides of the change).
WITH RECURSIVE down AS (
    SELECT a.id, a.code FROM areas a
    WHERE a.parent_id = ANY(:ids) AND a.valid_to IS NULL
    UNION
    SELECT a.id, a.code FROM areas a JOIN down d ON a.parent_id = d.id
    WHERE a.valid_to IS NULL
)
SELECT d.id FROM down d
WHERE d.id <> ALL(:ids)
  AND NOT EXISTS (SELECT 1 FROM _gisgrid_new_areas s WHERE s.code = d.code)
