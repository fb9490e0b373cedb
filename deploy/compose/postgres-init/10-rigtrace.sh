#!/bin/sh
# First start of the database container only (an empty data volume): the two RigTrace roles
# and the database. The owner owns the schema and runs the migrations; the app role owns nothing
# and has no BYPASSRLS, so row-level security applies to every query it makes (cloud/STORAGE.md).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v db="${RIGTRACE_DB_NAME:-rigtrace}" \
  -v owner="${RIGTRACE_DB_OWNER:-rigtrace}" \
  -v app="${RIGTRACE_DB_APP_ROLE:-rigtrace_app}" \
  -v owner_pw="$RIGTRACE_OWNER_DB_PASSWORD" \
  -v app_pw="$RIGTRACE_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw';
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw';
CREATE DATABASE :"db" OWNER :"owner";
SQL
