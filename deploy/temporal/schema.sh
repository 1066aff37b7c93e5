# Temporal's two databases brought to the schema of this admin-tools image's Temporal version:
# the compose stack's `temporal-schema` job, run with /bin/sh (busybox ash in the image) on
# every `up`. Idempotent: `setup-schema -v 0.0` adds the versioning tables to a new database
# and leaves a versioned one as it is; `update-schema` applies the versions it lacks.
#
# The databases themselves and the `temporal` role that owns them are made by PostgreSQL's
# init script (deploy/postgres/roles.sql): this job runs as that role, which may not create
# databases. The connection comes from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and
# SQL_PASSWORD. Each step is a plain command, so under `set -e` any failure ends the job
# with a non-zero status (and Temporal, which waits for it, does not start).
set -eu

# The compose file can't require POSTGRES_TEMPORAL_PASSWORD (Temporal Cloud has no use for it,
# and compose checks every service, disabled or not): this job, which runs only with the stack's
# own Temporal, is where its absence stops the stack.
if [ -z "${SQL_PASSWORD:-}" ]; then
  echo "temporal-schema: POSTGRES_TEMPORAL_PASSWORD is not set: the stack's own Temporal needs" \
    "it (or, for Temporal Cloud, add -f deploy/temporal-cloud.yml). Set it in the shell or .env;" \
    "if the PostgreSQL volume was made without it, recreate postgresql and run roles.sql again" \
    "(docs/operations.md, \"Database roles\")." >&2
  exit 1
fi

# The database's health check already waits for its TCP port; a database restarted alone
# (or a slow network) gets a minute more here.
tries=0
until nc -z -w 2 "$SQL_HOST" "$SQL_PORT"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "temporal-schema: PostgreSQL at $SQL_HOST:$SQL_PORT accepts no connection" >&2
    exit 1
  fi
  sleep 2
done

for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*}
  schema=postgresql/v12/${pair##*:}
  echo "temporal-schema: $db"
  # The schema embedded in the tool itself: always the one this Temporal version expects.
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema --schema-name "$schema"
done
echo "temporal-schema: both databases are up to date"
