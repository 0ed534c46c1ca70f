-- Changes whenever a grid is added, closed or reopened: the in-memory GridIndex is rebuilt
-- when this differs from the one it was built at.
SELECT count(*) AS n, coalesce(max(id), 0) AS max_id, count(valid_to) AS closed,
       coalesce(max(valid_to), 'epoch') AS last_closed
FROM areas
WHERE level = 'grid'
