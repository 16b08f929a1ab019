#!/bin/sh
# PostgreSQL's image runs this once, when its data volume is first made: camcanary's
# roles (roles.sql) with their passwords from the compose secrets.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
    -v owner_password="$(cat /run/secrets/pg_owner_password)" \
    -v app_password="$(cat /run/secrets/pg_app_password)" \
    -f /etc/camcanary/roles.sql
