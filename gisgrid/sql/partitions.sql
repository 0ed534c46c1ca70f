-- Incidents partitioned by month of reported_at (migration 0011): the city's months
-- (Asia/Shanghai), so a month's queries read one partition. Installed after every upgrade
-- (gisgrid.store.functions); undone by partitions_drop.sql.

-- The guard: what keeps incident_keys, the rollup (rollup.sql) and the tile log (tile_dirty.sql)
-- are statement triggers of incidents, which a statement naming a partition does not fire. So
-- a statement that writes a partition directly (INSERT, UPDATE, DELETE) is refused: write
-- through incidents. A BEFORE STATEMENT trigger on each partition (statement triggers are not
-- cloned to partitions, and fire only for the table a statement names). Not TRUNCATE: a
-- TRUNCATE of incidents fires the TRUNCATE triggers of every partition too, so a trigger
-- cannot tell one partition's TRUNCATE from the whole table's, which must pass.
CREATE OR REPLACE FUNCTION gisgrid_incident_partition_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gisgrid.partition_move', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION '% on the partition "%" of incidents is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Write through the table incidents: its triggers keep incident_keys,'
                         ' the rollup and the tile log.';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION gisgrid_incident_partition_guard_on(part regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS gisgrid_partition_guard ON %s', part);
    EXECUTE format('CREATE TRIGGER gisgrid_partition_guard'
                   ' BEFORE INSERT OR UPDATE OR DELETE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_incident_partition_guard()',
                   part);
END
$$;

-- Monthly partitions covering [lo, hi], made where missing; returns how many were made.
-- Rows that had landed in incidents_default for a month now made move into its partition;
-- a DELETE from a partition fires no statement trigger of the parent, so they keep their keys,
-- their events and their counts in the rollup (the only direct write to a partition the guard
-- below lets through).
CREATE OR REPLACE FUNCTION gisgrid_incident_partitions(lo timestamptz, hi timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', lo AT TIME ZONE 'Asia/Shanghai');
    last_m timestamp := date_trunc('month', hi AT TIME ZONE 'Asia/Shanghai');
    a timestamptz;
    b timestamptz;
    part text;
    made integer := 0;
BEGIN
    IF lo IS NULL OR hi IS NULL THEN
        RETURN 0;
    END IF;
    WHILE m <= last_m LOOP
        part := 'incidents_p' || to_char(m, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            -- two writers making the same month take turns; the second finds it made
            PERFORM pg_advisory_xact_lock(hashtext('gisgrid_incident_partitions'));
            IF to_regclass(part) IS NULL THEN
                a := m AT TIME ZONE 'Asia/Shanghai';
                b := (m + interval '1 month') AT TIME ZONE 'Asia/Shanghai';
                IF EXISTS (SELECT 1 FROM incidents_default
                           WHERE reported_at >= a AND reported_at < b) THEN
                    EXECUTE format('CREATE TABLE %I (LIKE incidents INCLUDING ALL)', part);
                    PERFORM set_config('gisgrid.partition_move', 'on', true);
                    EXECUTE format(
                        'WITH moved AS (DELETE FROM incidents_default WHERE reported_at >= $1'
                        ' AND reported_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
                        part) USING a, b;
                    PERFORM set_config('gisgrid.partition_move', 'off', true);
                    EXECUTE format('ALTER TABLE incidents ATTACH PARTITION %I'
                                   ' FOR VALUES FROM (%L) TO (%L)', part, a, b);
                ELSE
                    EXECUTE format('CREATE TABLE %I PARTITION OF incidents'
                                   ' FOR VALUES FROM (%L) TO (%L)', part, a, b);
                END IF;
                PERFORM gisgrid_incident_partition_guard_on(part::regclass);
                made := made + 1;
            END IF;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END
$$;

COMMENT ON FUNCTION gisgrid_incident_partitions(timestamptz, timestamptz) IS
    'Make the monthly incidents partitions covering [lo, hi] (city months); returns how many.';

-- incident_keys holds what must be unique across every month (id, code, a reporter's
-- idempotency key) and what incident_events references. An insert (also the insert half of
-- an update that moves a case to another month) or a change of a key column upserts its row;
-- a second live row with the same id is refused as the primary key would.
CREATE OR REPLACE FUNCTION gisgrid_incident_keys_upsert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_keys AS k (id, code, reporter_id, idempotency_key)
    VALUES (NEW.id, NEW.code, NEW.reporter_id, NEW.idempotency_key)
    ON CONFLICT (id) DO UPDATE
        SET code = EXCLUDED.code, reporter_id = EXCLUDED.reporter_id,
            idempotency_key = EXCLUDED.idempotency_key;
    IF TG_OP = 'INSERT' AND (SELECT count(*) FROM incidents WHERE id = NEW.id) > 1 THEN
        RAISE unique_violation USING
            MESSAGE = format('duplicate key value violates unique constraint "pk_incidents"'),
            DETAIL = format('Key (id)=(%s) already exists.', NEW.id),
            CONSTRAINT = 'pk_incidents', TABLE = 'incidents';
    END IF;
    RETURN NULL;
END
$$;

-- A deleted case leaves incident_keys (and its events, ON DELETE CASCADE). Per statement, so
-- that an UPDATE moving a case to another month (a DELETE and an INSERT underneath, which
-- fire no DELETE statement trigger) keeps them.
CREATE OR REPLACE FUNCTION gisgrid_incident_keys_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM incident_keys k USING gone g
    WHERE k.id = g.id AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = g.id);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS gisgrid_incident_keys_upsert ON incidents;
CREATE TRIGGER gisgrid_incident_keys_upsert
    AFTER INSERT OR UPDATE OF id, code, reporter_id, idempotency_key ON incidents
    FOR EACH ROW EXECUTE FUNCTION gisgrid_incident_keys_upsert();
DROP TRIGGER IF EXISTS gisgrid_incident_keys_delete ON incidents;
CREATE TRIGGER gisgrid_incident_keys_delete
    AFTER DELETE ON incidents REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_incident_keys_delete();

-- Every partition there is gets the guard (the ones made later get it where they are made).
SELECT gisgrid_incident_partition_guard_on(inhrelid::regclass)
FROM pg_inherits WHERE inhparent = 'incidents'::regclass;
