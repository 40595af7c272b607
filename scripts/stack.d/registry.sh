# shellcheck shell=bash
# Sourced by scripts/stack: the Apicurio schema registry (fetching, start-up,
# readiness, global compatibility rule).

REGISTRY_LOG=$LOG_DIR/registry.log

# Sets REGISTRY_JAVA and REGISTRY_VERSION_CHOSEN.
choose_registry() {
  if REGISTRY_JAVA=$(find_java 21); then
    REGISTRY_VERSION_CHOSEN=$REGISTRY_VERSION
  else
    REGISTRY_JAVA=$JAVA
    REGISTRY_VERSION_CHOSEN=$REGISTRY_VERSION_JAVA17
    warn "no Java 21+ found (JAVA_HOME, PATH, /usr/lib/jvm): using Apicurio Registry $REGISTRY_VERSION_JAVA17 instead of $REGISTRY_VERSION;" \
      "its GET /config/{subject} answers NONE rather than the global BACKWARD"
  fi
  REGISTRY_HOME=$STACK_DIR/registry/$REGISTRY_VERSION_CHOSEN
}

fetch_registry() {
  [[ -f $REGISTRY_HOME/.complete ]] && return 0
  require_maven
  local version=$REGISTRY_VERSION_CHOSEN start downloads tarball tmp
  say "fetching Apicurio Registry $version from Maven Central into $(rel "$REGISTRY_HOME") (first run only, ~110-160 MB)..."
  start=$(now)
  downloads=$STACK_DIR/downloads
  mvn_quiet "$COPY_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" -DoutputDirectory="$downloads" ||
    die "could not fetch Apicurio Registry $version with Maven (errors above); check that Maven Central is reachable"
  tarball=$downloads/apicurio-registry-app-$version-all.tar.gz
  tmp=$REGISTRY_HOME.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tar -xzf "$tarball" -C "$tmp" || die "could not unpack $(rel "$tarball")"
  rm -f "$tarball" # Maven keeps a copy in ~/.m2
  rm -rf "$REGISTRY_HOME"
  mv "$tmp" "$REGISTRY_HOME"
  : >"$REGISTRY_HOME/.complete"
  say "Apicurio Registry $version ready ($(($(now) - start)) s)"
}

# The runnable jar moved between releases: 3.0.x is a legacy runner jar,
# 3.1.x has quarkus-app/quarkus-run.jar, 3.3.x has quarkus-run.jar at the root.
registry_jar() {
  local jar
  for jar in "$REGISTRY_HOME/quarkus-run.jar" "$REGISTRY_HOME/quarkus-app/quarkus-run.jar" "$REGISTRY_HOME"/*-runner.jar; do
    [[ -f $jar ]] && { printf '%s' "$jar"; return 0; }
  done
  die "no runnable jar in $(rel "$REGISTRY_HOME"); delete that folder and run 'scripts/stack up' again"
}

launch_registry() {
  local pid jar
  if pid=$(live_pid registry); then
    say "registry already running (pid $pid)"
    return 0
  fi
  require_free_port "$REGISTRY_PORT" "the schema registry" "set SCHEMA_REGISTRY_URL to use that registry instead"
  require_postgres
  ensure_registry_database
  choose_registry
  fetch_registry
  jar=$(registry_jar)
  parse_database_url
  say "starting Apicurio Registry $REGISTRY_VERSION_CHOSEN on $LOCAL_REGISTRY_URL, storage: database $REGISTRY_DB on $PG_HOST:$PG_PORT (log: $(rel "$REGISTRY_LOG"))"
  # Settings, checked against 3.0.9 and 3.3.3:
  # - SQL storage on PostgreSQL (the default is in-memory H2: a restart would
  #   forget every schema id that Kafka messages still carry). The password
  #   goes through the environment so it does not show in `ps`.
  # - apicurio.rules.global.compatibility must be a system property: 3.0.9
  #   ignores the APICURIO_RULES_GLOBAL_COMPATIBILITY environment variable.
  #   (3.0.9 still answers NONE on ccompat GET /config until the rule is
  #   stored, see ensure_global_compatibility.)
  # - legacy-id-mode off: register, latest-version and by-id reads all use
  #   content ids, so the id in a wire-format frame resolves both ways.
  # - a small connection pool: the default keeps 20 connections open.
  # - the management interface (health/metrics, 3.3.x) defaults to 0.0.0.0:9000;
  #   keep it on loopback and on a free port so it never clashes.
  # shellcheck disable=SC2086
  launch registry "$REGISTRY_LOG" "$REGISTRY_HOME" \
    env APICURIO_STORAGE_KIND=sql \
    APICURIO_STORAGE_SQL_KIND=postgresql \
    APICURIO_DATASOURCE_URL="jdbc:postgresql://$PG_HOST:$PG_PORT/$REGISTRY_DB" \
    APICURIO_DATASOURCE_USERNAME="$PG_USER" \
    APICURIO_DATASOURCE_PASSWORD="${PG_PASSWORD:-postgres}" \
    "$REGISTRY_JAVA" $REGISTRY_HEAP -Djava.awt.headless=true \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
    -Dquarkus.management.host="$HOST" -Dquarkus.management.port=0 \
    -Dapicurio.rules.global.compatibility=BACKWARD \
    -Dapicurio.ccompat.legacy-id-mode.enabled=false \
    -Dapicurio.datasource.jdbc.initial-size=2 \
    -Dapicurio.datasource.jdbc.min-size=2 \
    -Dapicurio.datasource.jdbc.max-size=20 \
    -jar "$jar"
}

registry_answers() {
  curl -fsS -m 5 -o /dev/null "$1/subjects" 2>/dev/null
}

# The global compatibility rule is stored in the registry's database, so
# setting it once through the API makes ccompat GET /config answer BACKWARD
# on every version, whatever the start-up default did.
ensure_global_compatibility() {
  local url=$1 level
  level=$(curl -fsS -m 5 "$url/config" 2>/dev/null | sed -n 's/.*"compatibilityLevel" *: *"\([A-Z_]*\)".*/\1/p')
  [[ $level == BACKWARD ]] && return 0
  curl -fsS -m 5 -o /dev/null -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    -d '{"compatibility":"BACKWARD"}' "$url/config" ||
    die "could not set the registry's global compatibility to BACKWARD"
  say "registry global compatibility set to BACKWARD (was ${level:-unknown})"
}

wait_registry() {
  local pid deadline
  pid=$(live_pid registry) || { show_log_tail "$REGISTRY_LOG"; die "registry exited right after start"; }
  deadline=$(($(now) + WAIT_SECONDS))
  while (($(now) < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file registry)"
      show_log_tail "$REGISTRY_LOG"
      die "registry exited during start-up"
    fi
    if registry_answers "$LOCAL_REGISTRY_URL"; then
      ensure_global_compatibility "$LOCAL_REGISTRY_URL"
      say "registry answers on $LOCAL_REGISTRY_URL (pid $pid)"
      return 0
    fi
    sleep 1
  done
  show_log_tail "$REGISTRY_LOG"
  die "registry did not answer on $LOCAL_REGISTRY_URL within $WAIT_SECONDS s (still running as pid $pid; 'scripts/stack down' stops it)"
}
