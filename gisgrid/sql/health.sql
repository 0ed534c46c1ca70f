-- Versions reported by /health and `gisgrid db status`.
SELECT current_setting('server_version') AS postgres_version,
       postgis_lib_version() AS postgis_version,
       current_database() AS database_name
