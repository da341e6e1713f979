#!/usr/bin/env bash
# Installs and starts what the platform needs on Debian 12: Debian packages, PostgreSQL 15, Redis 7,
# the database role and database, the Python virtualenv and the npm packages. Safe to run repeatedly.
# Stops at the first problem with one line saying what is missing and how to fix it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup: $*" >&2; exit 1; }
note() { echo "setup: $*"; }

# Settings come from the environment, then .env, then the development defaults (as in settings/base.py).
if [ -f .env ]; then set -a; . ./.env; set +a; fi
DATABASE_URL=${DATABASE_URL:-postgres://mining:mining@127.0.0.1:5432/mining_platform}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
PYTHON=${PYTHON:-python3}

APT_PACKAGES=(postgresql-15 postgresql-contrib redis-server chromium poppler-utils
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
# Node and npm may come from elsewhere (a newer Node); Debian's are installed only when none works.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
"$PYTHON" -c 'import ensurepip' 2>/dev/null || APT_PACKAGES+=(python3-venv)

# 1. Debian packages, only when one is missing.
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}); run as root or: sudo apt-get install -y ${missing[*]}"
  note "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null || die "apt-get update failed; check the network access to the Debian mirror"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
fi

# 2. PostgreSQL 15: the Debian cluster, started directly (no systemd here).
read -r PGUSER PGPASS PGHOST PGPORT PGDB < <("$PYTHON" - "$DATABASE_URL" <<'PY'
import sys
from urllib.parse import unquote, urlsplit
u = urlsplit(sys.argv[1])
print(unquote(u.username or ""), unquote(u.password or ""), u.hostname or "127.0.0.1", u.port or 5432, u.path.lstrip("/"))
PY
)
if [ "$PGHOST" = 127.0.0.1 ] || [ "$PGHOST" = localhost ]; then
  if ! pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main"' | grep -q .; then
    note "creating PostgreSQL 15 cluster 'main' on port $PGPORT"
    pg_createcluster 15 main --port "$PGPORT" >/dev/null || die "pg_createcluster 15 main failed"
  fi
  if ! pg_lsclusters -h | awk '$1=="15" && $2=="main" {print $4}' | grep -q online; then
    note "starting PostgreSQL 15"
    pg_ctlcluster 15 main start || die "PostgreSQL 15 did not start; see /var/log/postgresql/postgresql-15-main.log"
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 0.5; done
  pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "PostgreSQL does not accept connections on $PGHOST:$PGPORT"
  # Role (allowed to create the test database) and database, created once.
  su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='$PGUSER'\"" | grep -q 1 \
    || su postgres -c "psql -p $PGPORT -qc \"CREATE ROLE \\\"$PGUSER\\\" LOGIN CREATEDB PASSWORD '$PGPASS'\"" >/dev/null \
    || die "could not create the PostgreSQL role $PGUSER"
  su postgres -c "psql -p $PGPORT -qtAc \"SELECT 1 FROM pg_database WHERE datname='$PGDB'\"" | grep -q 1 \
    || su postgres -c "createdb -p $PGPORT -O '$PGUSER' '$PGDB'" || die "could not create the database $PGDB"
else
  pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "PostgreSQL at $PGHOST:$PGPORT (DATABASE_URL) does not answer"
fi

# 3. Redis 7 on loopback, started directly when it does not answer.
read -r RHOST RPORT < <("$PYTHON" -c 'import sys; from urllib.parse import urlsplit; u=urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 6379)' "$REDIS_URL")
if ! redis-cli -h "$RHOST" -p "$RPORT" ping >/dev/null 2>&1; then
  if [ "$RHOST" = 127.0.0.1 ] || [ "$RHOST" = localhost ]; then
    note "starting Redis on $RHOST:$RPORT"
    mkdir -p var/redis
    redis-server --bind 127.0.0.1 --port "$RPORT" --daemonize yes --dir "$PWD/var/redis" \
      --pidfile "$PWD/var/redis/redis.pid" --logfile "$PWD/var/redis/redis.log" --save '' --appendonly no \
      >/dev/null || die "redis-server did not start; see var/redis/redis.log"
    for _ in $(seq 1 20); do redis-cli -h "$RHOST" -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.25; done
  fi
  redis-cli -h "$RHOST" -p "$RPORT" ping >/dev/null 2>&1 || die "Redis does not answer on $RHOST:$RPORT (REDIS_URL)"
fi

# 4. Python virtualenv with the pinned requirements, reinstalled when requirements.txt changes.
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
  || die "$PYTHON is not Python 3.11; install it or set PYTHON=/path/to/python3.11"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv || die "could not create .venv (apt-get install python3-venv)"
if [ ! -f .venv/.requirements.sha ] || ! sha256sum -c --status .venv/.requirements.sha 2>/dev/null; then
  note "installing Python packages from requirements.txt"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements.txt || die "pip install -r requirements.txt failed"
  sha256sum requirements.txt > .venv/.requirements.sha
fi

# 5. Front-end packages from npm (served by Django itself; pages never load from a CDN).
if [ ! -f node_modules/.package-lock.sha ] || ! sha256sum -c --status node_modules/.package-lock.sha 2>/dev/null; then
  note "installing front-end packages with npm"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || die "npm ci failed; run 'npm ci' to see why"
  sha256sum package-lock.json > node_modules/.package-lock.sha
fi
note "ready (PostgreSQL $PGHOST:$PGPORT/$PGDB, Redis $RHOST:$RPORT)"
