-- Undo partitions.sql (migration 0011's downgrade, and before a changed partitions.sql).
DO $$
DECLARE
    part regclass;
BEGIN
    IF to_regclass('incidents') IS NOT NULL THEN
        FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                    WHERE inhparent = 'incidents'::regclass LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS gisgrid_partition_guard ON %s', part);
        END LOOP;
    END IF;
END
$$;
DROP TRIGGER IF EXISTS gisgrid_incident_keys_upsert ON incidents;
DROP TRIGGER IF EXISTS gisgrid_incident_keys_delete ON incidents;
DROP FUNCTION IF EXISTS gisgrid_incident_keys_upsert();
DROP FUNCTION IF EXISTS gisgrid_incident_keys_delete();
DROP FUNCTION IF EXISTS gisgrid_incident_partitions(timestamptz, timestamptz);
DROP FUNCTION IF EXISTS gisgrid_incident_partition_guard_on(regclass);
DROP FUNCTION IF EXISTS gisgrid_incident_partition_guard();
