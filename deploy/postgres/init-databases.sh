#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Temporal gets its two databases; the case store gets its own role and database, so the
# application never holds Temporal's credentials.
set -eu

: "${POSTGRES_USER:?}"
: "${VANGNET_DB_PASSWORD:?VANGNET_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v vangnet_password="$VANGNET_DB_PASSWORD" <<'SQL'
SELECT 'CREATE DATABASE temporal' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal')\gexec
SELECT 'CREATE DATABASE temporal_visibility' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'temporal_visibility')\gexec
SELECT format('CREATE ROLE vangnet LOGIN PASSWORD %L', :'vangnet_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vangnet')\gexec
SELECT 'CREATE DATABASE vangnet OWNER vangnet' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'vangnet')\gexec
SQL
