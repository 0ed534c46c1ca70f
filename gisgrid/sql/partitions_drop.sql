-- Undo partitions.sql (migration 0011's downgrade, and before a changed partitions.sql).
DROP TRIGGER IF EXISTS gisgrid_incident_keys_upsert ON incidents;
DROP TRIGGER IF EXISTS gisgrid_incident_keys_delete ON incidents;
DROP FUNCTION IF EXISTS gisgrid_incident_keys_upsert();
DROP FUNCTION IF EXISTS gisgrid_incident_keys_delete();
DROP FUNCTION IF EXISTS gisgrid_incident_partitions(timestamptz, timestamptz);
