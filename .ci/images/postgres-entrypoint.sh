#!/bin/bash
# Creates the cluster on first start (user, database, password from POSTGRES_*), then runs it.
set -euo pipefail
mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres "$PGDATA" /run/postgresql
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  password=${POSTGRES_PASSWORD:-$(cat "${POSTGRES_PASSWORD_FILE:?}")}
  su postgres -c "initdb -D '$PGDATA' -U '$POSTGRES_USER' --auth-host=scram-sha-256 --auth-local=trust" >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start" >/dev/null
  psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -h /run/postgresql \
    -c "ALTER USER \"$POSTGRES_USER\" PASSWORD '$password'" \
    -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" >/dev/null
  su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
exec su postgres -c "exec postgres -D '$PGDATA' -c listen_addresses='*'"
