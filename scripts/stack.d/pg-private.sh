# shellcheck shell=bash
# Sourced by scripts/stack: a private PostgreSQL cluster, started only when
# asked (`scripts/stack up pg-private`, or STACK_PRIVATE_PG=1 with `up`), for
# tests that must restart the server or need settings the machine's server
# does not have. Data under .stack/pg-private/, port 5433 (STACK_PG_PORT),
# trust authentication on 127.0.0.1, and TLS (ssl = on) with a certificate
# from the stack's CA for localhost and 127.0.0.1, so
#   postgres://postgres@localhost:5433/postgres?sslmode=verify-full&sslrootcert=.stack/tls/ca.pem
# verifies. Plain connections are accepted too.
#
# initdb refuses to run as root: as root, the cluster belongs to the
# `postgres` system user (STACK_PG_OS_USER) and every server command runs as
# that user through runuser.

PG_PRIVATE_HOME=$STACK_DIR/pg-private
PG_PRIVATE_DATA=$PG_PRIVATE_HOME/data
PG_PRIVATE_SOCKETS=$PG_PRIVATE_HOME/sockets
PG_PRIVATE_LOG=$LOG_DIR/pg-private.log
PG_PRIVATE_URL=postgres://postgres@$HOST:$PG_PRIVATE_PORT/postgres
PG_OS_USER=${STACK_PG_OS_USER:-postgres}

# The newest server binaries: STACK_PG_BIN, else /usr/lib/postgresql/<version>/bin
# (Debian), else the folder of an initdb on PATH.
pg_bin_dir() {
  local dir
  if [[ -n ${STACK_PG_BIN:-} ]]; then
    printf '%s' "$STACK_PG_BIN"
    return 0
  fi
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -printf '%h\n' 2>/dev/null |
    sort -V | tail -n 1)
  if [[ -n $dir && -x $dir/bin/pg_ctl ]]; then
    printf '%s/bin' "$dir"
  elif command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  else
    die "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (or set STACK_PG_BIN)"
  fi
}

# Runs a command as the cluster's owner. 9>&-: a server started by it must
# not inherit the stack lock; </dev/null: nor our terminal.
run_as_pg_owner() {
  if ((EUID == 0)); then
    runuser -u "$PG_OS_USER" -- "$@" </dev/null 9>&-
  else
    "$@" </dev/null 9>&-
  fi
}

# One of the server binaries (initdb, pg_ctl), as the owner.
as_pg_owner() {
  local bin=$1
  shift
  run_as_pg_owner "$(pg_bin_dir)/$bin" "$@"
}

# pg_ctl start/restart: in a session of its own, so Ctrl-C in the terminal
# that ran `up` never reaches the server; -l so the server writes to its log,
# not to (and holding open) our stdout.
pg_ctl_detached() {
  run_as_pg_owner setsid -w "$(pg_bin_dir)/pg_ctl" "$@" -D "$PG_PRIVATE_DATA" -l "$PG_PRIVATE_LOG" -w -t "$WAIT_SECONDS" -s
}

# Folders the server writes to belong to its owner.
pg_owned_dir() {
  mkdir -p "$1"
  if ((EUID == 0)); then chown "$PG_OS_USER:" "$1"; fi
  chmod "${2:-755}" "$1"
}

init_pg_private() {
  [[ -f $PG_PRIVATE_DATA/PG_VERSION ]] && return 0
  if ((EUID == 0)) && ! id "$PG_OS_USER" >/dev/null 2>&1; then
    die "running as root, and there is no '$PG_OS_USER' system user to own the private cluster (initdb refuses root); create one or set STACK_PG_OS_USER"
  fi
  say "creating the private PostgreSQL cluster in $(rel "$PG_PRIVATE_DATA") ($(pg_bin_dir))"
  pg_owned_dir "$PG_PRIVATE_HOME"
  rm -rf "$PG_PRIVATE_DATA"
  as_pg_owner initdb -D "$PG_PRIVATE_DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >>"$PG_PRIVATE_LOG" 2>&1 ||
    { show_log_tail "$PG_PRIVATE_LOG"; die "initdb failed for $(rel "$PG_PRIVATE_DATA")"; }
  printf "\n# Settings of scripts/stack, rewritten at every start.\ninclude = 'stack.conf'\n" >>"$PG_PRIVATE_DATA/postgresql.conf"
}

# Rewritten at every start, so edits here and STACK_PG_PORT apply.
configure_pg_private() {
  local data=$PG_PRIVATE_DATA file
  pg_owned_dir "$PG_PRIVATE_SOCKETS"
  cat >"$data/stack.conf" <<CONF
listen_addresses = '$HOST'
port = $PG_PRIVATE_PORT
unix_socket_directories = '$PG_PRIVATE_SOCKETS'
max_connections = 100
shared_buffers = 64MB
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.pem'
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  cat >"$data/pg_hba.conf" <<'HBA'
# scripts/stack: trust on the loopback, with or without TLS.
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
  cp "$TLS_DIR/pg-server.pem" "$data/server.crt"
  cp "$TLS_DIR/pg-server.key" "$data/server.key"
  cp "$TLS_DIR/ca.pem" "$data/ca.pem"
  for file in stack.conf pg_hba.conf server.crt server.key ca.pem; do
    if ((EUID == 0)); then chown "$PG_OS_USER:" "$data/$file"; fi
    chmod 600 "$data/$file"
  done
  # The log is opened by pg_ctl, which runs as the owner.
  touch "$PG_PRIVATE_LOG"
  if ((EUID == 0)); then chown "$PG_OS_USER:" "$PG_PRIVATE_LOG"; fi
}

pg_private_running() {
  [[ -f $PG_PRIVATE_DATA/PG_VERSION ]] && as_pg_owner pg_ctl status -D "$PG_PRIVATE_DATA" >/dev/null 2>&1
}

pg_private_answers() {
  PGCONNECT_TIMEOUT=5 psql "$PG_PRIVATE_URL" -X -Atqc 'select 1' >/dev/null 2>&1
}

pg_private_pid() {
  head -n 1 "$PG_PRIVATE_DATA/postmaster.pid" 2>/dev/null
}

launch_pg_private() {
  if pg_private_running; then
    say "pg-private already running (pid $(pg_private_pid))"
    return 0
  fi
  require_free_port "$PG_PRIVATE_PORT" "the private PostgreSQL cluster" "set STACK_PG_PORT to another port"
  ensure_tls
  init_pg_private
  configure_pg_private
  say "starting pg-private on $PG_PRIVATE_URL (log: $(rel "$PG_PRIVATE_LOG"))"
  pg_ctl_detached start || { show_log_tail "$PG_PRIVATE_LOG"; die "pg-private did not start"; }
}

wait_pg_private() {
  local deadline
  deadline=$(($(now) + WAIT_SECONDS))
  until pg_private_answers; do
    if (($(now) >= deadline)); then
      show_log_tail "$PG_PRIVATE_LOG"
      die "pg-private did not answer on $PG_PRIVATE_URL within $WAIT_SECONDS s"
    fi
    sleep 0.2
  done
  say "pg-private answers on $PG_PRIVATE_URL (pid $(pg_private_pid))"
}

# pg_ctl's shutdown modes: fast (roll back, disconnect, checkpoint) or
# immediate (no checkpoint: the next start runs crash recovery).
stop_pg_private() {
  local mode=${1:-fast}
  if ! pg_private_running; then
    say "pg-private not running"
    return 0
  fi
  say "stopping pg-private (pid $(pg_private_pid), -m $mode)"
  as_pg_owner pg_ctl stop -D "$PG_PRIVATE_DATA" -m "$mode" -w -t 60 -s ||
    die "pg_ctl stop -m $mode failed for $(rel "$PG_PRIVATE_DATA")"
}

restart_pg_private() {
  local mode=$1
  [[ $mode == fast || $mode == immediate || $mode == smart ]] ||
    die "restart pg-private: --mode must be fast, immediate or smart (got '$mode')"
  pg_private_running || die "pg-private is not running; start it with: scripts/stack up pg-private"
  say "restarting pg-private (pid $(pg_private_pid), -m $mode)"
  configure_pg_private
  pg_ctl_detached restart -m "$mode" || { show_log_tail "$PG_PRIVATE_LOG"; die "pg_ctl restart -m $mode failed"; }
  wait_pg_private
}

status_pg_private() {
  if pg_private_running && pg_private_answers; then
    printf '%-10s up      %s (pid %s, TLS: sslmode=verify-full&sslrootcert=%s)\n' \
      pg-private "$PG_PRIVATE_URL" "$(pg_private_pid)" "$(rel "$TLS_DIR/ca.pem")"
    return 0
  fi
  printf '%-10s down    %s (start it with: scripts/stack up pg-private)\n' pg-private "$PG_PRIVATE_URL"
  return 1
}
