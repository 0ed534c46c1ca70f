-- The incident rollup (migration 0013_rollup makes the tables): counts of incidents kept in
-- the writer's transaction by statement triggers on incidents, so every writer (API, Open311,
-- field app, loads, workflow, synth COPY) keeps it and a reader sees it exactly when it sees
-- the incidents. Three tables:
--
--   incident_rollup       the cube: grid x city day x category x state, where the state is
--                         the status, the due hour of an open case ('infinity' when closed,
--                         rejected or without due time), closed late, resolved on the spot;
--                         n incidents and handling_s, the sum of closed_at - reported_at of
--                         the closed ones. Answers the category, status and whole-day filters.
--   incident_rollup_grid  the same counts with only grid: n, open, and open_due (the open ones
--                         with a due time), each apart for the sensitive groups (counted only
--                         in the caller's scope, gisgrid_sensitive_groups). What an unfiltered
--                         tile reads: one row a grid, whatever the length of the history. A
--                         change of gisgrid_sensitive_groups needs gisgrid_rollup_rebuild().
--   incident_rollup_due   the open cases with a due time per due hour x grid x sensitive: a
--                         reader takes a grid's overdue as its open_due less the cases whose
--                         due hour has not passed, a short range at the front of this key.
--
-- Overdue needs no write when a due time passes: an open case is counted under its due hour,
-- and a reader counts as overdue the hours that have passed and reads the current hour's
-- cases from incidents (ix_incidents_open_due). Grid 0 holds incidents outside every grid.
--
-- A repeatable step (gisgrid.store.functions), installed before tiles.sql; migration 0013
-- also runs it, so the triggers exist from the moment the tables are filled.

-- The city's zone for "day" (gisgrid.times.CITY_TZ).
CREATE OR REPLACE FUNCTION gisgrid_city_tz() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 'Asia/Shanghai'::text $$;

-- The groups that are never counted outside a caller's scope (gisgrid.open311.SENSITIVE_GROUPS).
CREATE OR REPLACE FUNCTION gisgrid_sensitive_groups() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT '{03,04}'::text[] $$;

CREATE OR REPLACE FUNCTION gisgrid_rollup_sensitive(category text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(category, 2) = ANY(gisgrid_sensitive_groups())
$$;

CREATE OR REPLACE FUNCTION gisgrid_rollup_open(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT status NOT IN ('closed', 'rejected') $$;

-- The hour bucket an open case is counted under (UTC hours: no session time zone involved).
CREATE OR REPLACE FUNCTION gisgrid_rollup_due_hour(status text, due_at timestamptz)
RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN gisgrid_rollup_open(status) AND due_at IS NOT NULL
                THEN date_trunc('hour', due_at, 'UTC') ELSE 'infinity' END
$$;

DROP TYPE IF EXISTS gisgrid_rollup_delta CASCADE;
CREATE TYPE gisgrid_rollup_delta AS (
    grid_id bigint,
    day date,
    category text,
    status text,
    due_hour timestamptz,
    late boolean,
    on_spot boolean,
    n integer,
    handling_s float8
);

-- One incident's key in the cube and its signed contribution (+1 written, -1 removed).
CREATE OR REPLACE FUNCTION gisgrid_rollup_key(
    grid_id bigint, reported_at timestamptz, category text, status text, due_at timestamptz,
    closed_at timestamptz, on_spot boolean, sign integer
) RETURNS gisgrid_rollup_delta LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(
        COALESCE(grid_id, 0),
        (reported_at AT TIME ZONE gisgrid_city_tz())::date,
        category,
        status,
        gisgrid_rollup_due_hour(status, due_at),
        COALESCE(status = 'closed' AND closed_at > due_at, false),
        COALESCE(on_spot, false),
        sign,
        CASE WHEN status = 'closed'
             THEN sign * COALESCE(extract(epoch FROM closed_at - reported_at), 0)::float8
             ELSE 0::float8 END
    )::gisgrid_rollup_delta
$$;

-- One key's count n as the six counts of a row of incident_rollup_grid.
CREATE OR REPLACE FUNCTION gisgrid_rollup_grid_split(
    category text, status text, due_hour timestamptz, n integer,
    OUT n_public integer, OUT open_public integer, OUT open_due_public integer,
    OUT n_sensitive integer, OUT open_sensitive integer, OUT open_due_sensitive integer
) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s THEN 0 ELSE n END, CASE WHEN s OR NOT o THEN 0 ELSE n END,
           CASE WHEN s OR NOT d THEN 0 ELSE n END,
           CASE WHEN s THEN n ELSE 0 END, CASE WHEN s AND o THEN n ELSE 0 END,
           CASE WHEN s AND d THEN n ELSE 0 END
    FROM (SELECT gisgrid_rollup_sensitive(category) AS s, gisgrid_rollup_open(status) AS o,
                 due_hour <> 'infinity' AS d) f
$$;

-- Add summed deltas to the three tables; with removes (a delta may be negative), a key whose
-- count reaches 0 is removed. Keys are written in key order, so two writers touching the same
-- keys lock them in the same order. An INSERT only adds: three statements instead of six,
-- which is most of what a report's write pays.
CREATE OR REPLACE FUNCTION gisgrid_rollup_merge(d gisgrid_rollup_delta[], removes boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_rollup AS r
        (grid_id, day, category, status, due_hour, late, on_spot, n, handling_s)
    SELECT x.grid_id, x.day, x.category, x.status, x.due_hour, x.late, x.on_spot, x.n,
           x.handling_s
    FROM unnest(d) x
    WHERE x.n <> 0
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (grid_id, day, category, status, due_hour, late, on_spot) DO UPDATE
        SET n = r.n + excluded.n, handling_s = r.handling_s + excluded.handling_s;

    INSERT INTO incident_rollup_grid AS r (grid_id, n, open, open_due, n_sensitive,
                                           open_sensitive, open_due_sensitive)
    SELECT * FROM (
        SELECT x.grid_id, sum(c.n_public), sum(c.open_public), sum(c.open_due_public),
               sum(c.n_sensitive), sum(c.open_sensitive), sum(c.open_due_sensitive)
        FROM unnest(d) x,
             LATERAL gisgrid_rollup_grid_split(x.category, x.status, x.due_hour, x.n) c
        GROUP BY 1
    ) y (grid_id, a, b, c, e, f, g)
    -- a case that closes moves no count, only open (and open_due)
    WHERE (y.a, y.b, y.c, y.e, y.f, y.g) <> (0, 0, 0, 0, 0, 0)
    ORDER BY 1
    ON CONFLICT (grid_id) DO UPDATE
        SET n = r.n + excluded.n, open = r.open + excluded.open,
            open_due = r.open_due + excluded.open_due,
            n_sensitive = r.n_sensitive + excluded.n_sensitive,
            open_sensitive = r.open_sensitive + excluded.open_sensitive,
            open_due_sensitive = r.open_due_sensitive + excluded.open_due_sensitive;

    -- a due hour other than 'infinity' holds open cases only
    INSERT INTO incident_rollup_due AS r (due_hour, grid_id, sensitive, open)
    SELECT x.due_hour, x.grid_id, gisgrid_rollup_sensitive(x.category), sum(x.n)
    FROM unnest(d) x
    WHERE x.due_hour <> 'infinity'
    GROUP BY 1, 2, 3
    HAVING sum(x.n) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (due_hour, grid_id, sensitive) DO UPDATE SET open = r.open + excluded.open;

    IF NOT removes THEN
        RETURN;
    END IF;
    DELETE FROM incident_rollup r USING unnest(d) x
    WHERE r.grid_id = x.grid_id AND r.day = x.day AND r.category = x.category
      AND r.status = x.status AND r.due_hour = x.due_hour AND r.late = x.late
      AND r.on_spot = x.on_spot AND r.n = 0;
    DELETE FROM incident_rollup_grid r USING unnest(d) x
    WHERE r.grid_id = x.grid_id AND r.n = 0 AND r.n_sensitive = 0;
    DELETE FROM incident_rollup_due r USING unnest(d) x
    WHERE r.due_hour = x.due_hour AND r.grid_id = x.grid_id
      AND r.sensitive = gisgrid_rollup_sensitive(x.category) AND r.open = 0;
END
$$;

-- The statement trigger: the rows a statement wrote (its transition tables) summed by key.
-- Transition tables of a statement trigger on a partitioned parent hold the rows of every
-- partition, so this works unchanged when incidents is partitioned.
CREATE OR REPLACE FUNCTION gisgrid_rollup_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    d gisgrid_rollup_delta[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        d := ARRAY(
            SELECT ROW(k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot,
                       sum(k.n)::integer, sum(k.handling_s))::gisgrid_rollup_delta
            FROM (SELECT (gisgrid_rollup_key(w.grid_id, w.reported_at, w.category, w.status,
                              w.due_at, w.closed_at, w.resolved_on_spot, 1)).*
                  FROM rollup_new w) k
            GROUP BY k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot);
    ELSIF TG_OP = 'DELETE' THEN
        d := ARRAY(
            SELECT ROW(k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot,
                       sum(k.n)::integer, sum(k.handling_s))::gisgrid_rollup_delta
            FROM (SELECT (gisgrid_rollup_key(w.grid_id, w.reported_at, w.category, w.status,
                              w.due_at, w.closed_at, w.resolved_on_spot, -1)).*
                  FROM rollup_old w) k
            GROUP BY k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot);
    ELSE
        d := ARRAY(
            SELECT ROW(k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot,
                       sum(k.n)::integer, sum(k.handling_s))::gisgrid_rollup_delta
            FROM (SELECT (gisgrid_rollup_key(w.grid_id, w.reported_at, w.category, w.status,
                              w.due_at, w.closed_at, w.resolved_on_spot, 1)).*
                  FROM rollup_new w
                  UNION ALL
                  SELECT (gisgrid_rollup_key(w.grid_id, w.reported_at, w.category, w.status,
                              w.due_at, w.closed_at, w.resolved_on_spot, -1)).*
                  FROM rollup_old w) k
            GROUP BY k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot
            HAVING sum(k.n) <> 0 OR sum(k.handling_s) <> 0);
    END IF;
    IF cardinality(d) > 0 THEN
        PERFORM gisgrid_rollup_merge(d, TG_OP <> 'INSERT');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION gisgrid_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE incident_rollup, incident_rollup_grid, incident_rollup_due;
    RETURN NULL;
END
$$;

-- A statement trigger with transition tables takes one event each.
CREATE TRIGGER incident_rollup_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_rollup_apply();
CREATE TRIGGER incident_rollup_update AFTER UPDATE ON incidents
    REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_rollup_apply();
CREATE TRIGGER incident_rollup_delete AFTER DELETE ON incidents
    REFERENCING OLD TABLE AS rollup_old
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_rollup_apply();
CREATE TRIGGER incident_rollup_truncate AFTER TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_rollup_truncate();

-- The per-grid and due-hour tables from the cube (a rebuild, and migration 0014, which made
-- them beside a filled cube).
CREATE OR REPLACE FUNCTION gisgrid_rollup_derive() RETURNS void
LANGUAGE sql AS $$
    TRUNCATE incident_rollup_grid, incident_rollup_due;
    INSERT INTO incident_rollup_grid (grid_id, n, open, open_due, n_sensitive, open_sensitive,
                                      open_due_sensitive)
    SELECT r.grid_id, sum(c.n_public), sum(c.open_public), sum(c.open_due_public),
           sum(c.n_sensitive), sum(c.open_sensitive), sum(c.open_due_sensitive)
    FROM incident_rollup r,
         LATERAL gisgrid_rollup_grid_split(r.category, r.status, r.due_hour, r.n) c
    GROUP BY 1;
    INSERT INTO incident_rollup_due (due_hour, grid_id, sensitive, open)
    SELECT due_hour, grid_id, gisgrid_rollup_sensitive(category), sum(n)
    FROM incident_rollup
    WHERE due_hour <> 'infinity'
    GROUP BY 1, 2, 3;
$$;

-- The cube from the incidents there are: one pass, GROUP BY in the database.
CREATE OR REPLACE FUNCTION gisgrid_rollup_fill_cube() RETURNS void
LANGUAGE sql AS $$
    TRUNCATE incident_rollup;
    INSERT INTO incident_rollup
        (grid_id, day, category, status, due_hour, late, on_spot, n, handling_s)
    SELECT k.grid_id, k.day, k.category, k.status, k.due_hour, k.late, k.on_spot, sum(k.n),
           sum(k.handling_s)
    FROM incidents i,
         LATERAL gisgrid_rollup_key(i.grid_id, i.reported_at, i.category, i.status, i.due_at,
                                    i.closed_at, i.resolved_on_spot, 1) k
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
$$;

-- Fill the three tables from the incidents there are (a bulk writer that turned the triggers
-- off, a change of gisgrid_sensitive_groups).
CREATE OR REPLACE FUNCTION gisgrid_rollup_rebuild() RETURNS void
LANGUAGE sql AS $$
    SELECT gisgrid_rollup_fill_cube();
    SELECT gisgrid_rollup_derive();
$$;
