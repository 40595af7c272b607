# shellcheck shell=bash
# Sourced by scripts/stack: the Kafka broker (fetching its jars, config,
# storage, start-up and readiness).

KAFKA_HOME=$STACK_DIR/kafka
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_CONFIG=$KAFKA_HOME/config
# One data folder per version: a KRaft log formatted by 4.x cannot be read by
# 3.9, so switching STACK_KAFKA_VERSION starts with empty topics.
KAFKA_DATA=$KAFKA_HOME/data-$KAFKA_VERSION
KAFKA_LOG=$LOG_DIR/kafka.log   # the broker's own log (log4j)
KAFKA_OUT=$LOG_DIR/kafka.out   # stdout/stderr: JVM errors before log4j starts

# What the jars in KAFKA_LIBS were fetched for: the version and the manifest,
# so an edit to pom.xml fetches again.
kafka_libs_stamp() {
  printf '%s %s' "$KAFKA_VERSION" "$(cksum <"$CONF_DIR/pom.xml" | cut -d' ' -f1)"
}

fetch_kafka() {
  if [[ -f $KAFKA_LIBS/.complete && $(<"$KAFKA_LIBS/.complete") == "$(kafka_libs_stamp)" ]]; then
    return 0
  fi
  require_maven
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $(rel "$KAFKA_LIBS") (first run only, can take a few minutes)..."
  local start tmp
  start=$(now)
  tmp=$KAFKA_HOME/libs.tmp
  rm -rf "$tmp"
  mvn_quiet "$DEPENDENCY_PLUGIN:copy-dependencies" \
    -Dkafka.version="$KAFKA_VERSION" -Dkafka.major="$KAFKA_MAJOR" -DincludeScope=runtime -DoutputDirectory="$tmp" ||
    die "could not fetch the Kafka jars with Maven (errors above); check that Maven Central is reachable"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  kafka_libs_stamp >"$KAFKA_LIBS/.complete"
  say "Kafka jars ready ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(($(now) - start)) s)"
}

# Logging flags for a Kafka JVM: 3.9 logs through reload4j (log4j 1.x
# properties), 4.x through Log4j2 (its own properties format).
kafka_log_flags() {
  local config=$1
  if [[ $KAFKA_MAJOR == 3 ]]; then
    printf '%s' "-Dlog4j.configuration=file:$config-log4j.properties"
  else
    printf '%s' "-Dlog4j2.configurationFile=file:$config-log4j2.properties"
  fi
}

# Kafka's command-line tools (storage format, readiness probe, SCRAM users),
# logging warnings only, to stderr.
kafka_tool() {
  "$JAVA" -Xmx128m -cp "$KAFKA_LIBS/*" "$(kafka_log_flags "$CONF_DIR/tools")" "$@"
}

# Tools moved from the Scala core (kafka.admin) to kafka-tools
# (org.apache.kafka.tools): BrokerApiVersionsCommand in 4.0, ConfigCommand
# later (4.1.1 still has kafka.admin.ConfigCommand, 4.4.0 does not). A jar's
# file names are stored uncompressed, so grep can tell which one it holds.
kafka_tool_class() {
  if grep -qa "org/apache/kafka/tools/$1.class" "$KAFKA_LIBS/kafka-tools-$KAFKA_VERSION.jar" 2>/dev/null; then
    printf 'org.apache.kafka.tools.%s' "$1"
  else
    printf 'kafka.admin.%s' "$1"
  fi
}

# Config is re-rendered on every start so edits to scripts/stack.d apply.
render_kafka_config() {
  mkdir -p "$KAFKA_CONFIG" "$KAFKA_DATA"
  sed -e "s|@STACK_DIR@|$STACK_DIR|g" -e "s|@KAFKA_DATA@|$KAFKA_DATA|g" \
    -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@SASL_PORT@|$SASL_PORT|g" -e "s|@TLS_DIR@|$TLS_DIR|g" \
    -e "s|@KEYSTORE_PASSWORD@|$(<"$TLS_DIR/broker.p12.password")|g" \
    "$CONF_DIR/kafka-server.properties" >"$KAFKA_CONFIG/server.properties"
  chmod 600 "$KAFKA_CONFIG/server.properties"
  local logging
  for logging in kafka-log4j.properties kafka-log4j2.properties; do
    sed "s|@STACK_DIR@|$STACK_DIR|g" "$CONF_DIR/$logging" >"$KAFKA_CONFIG/$logging"
  done
}

# KRaft storage is formatted once; later starts reuse it, so topics and
# offsets survive `stop kafka` / `start kafka`.
format_kafka_storage() {
  [[ -f $KAFKA_DATA/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid 2>>"$KAFKA_OUT" | tail -n 1)
  [[ -n $cluster_id ]] || { show_log_tail "$KAFKA_OUT"; die "kafka-storage random-uuid failed"; }
  printf '%s\n' "$cluster_id" >"$KAFKA_HOME/cluster-id"
  if ! kafka_tool kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$KAFKA_CONFIG/server.properties" >>"$KAFKA_OUT" 2>&1; then
    show_log_tail "$KAFKA_OUT"
    die "formatting Kafka storage in $(rel "$KAFKA_DATA") failed"
  fi
}

launch_kafka() {
  local pid
  if pid=$(live_pid kafka); then
    say "kafka already running (pid $pid)"
    return 0
  fi
  require_free_port "$KAFKA_PORT" kafka "set KAFKA_BROKERS to use that broker instead"
  require_free_port "$CONTROLLER_PORT" "kafka's controller" "free it (the local broker's KRaft controller needs it)"
  require_free_port "$SASL_PORT" "kafka's SASL_SSL listener" "set STACK_SASL_PORT to another port"
  fetch_kafka
  ensure_tls
  render_kafka_config
  format_kafka_storage
  say "starting kafka $KAFKA_VERSION on $LOCAL_BROKERS (log: $(rel "$KAFKA_LOG"))"
  # JVM flags as in Kafka's own kafka-server-start.sh, with a smaller heap.
  # shellcheck disable=SC2086
  launch kafka "$KAFKA_OUT" "$KAFKA_HOME" \
    "$JAVA" $KAFKA_HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true -Dkafka.logs.dir="$LOG_DIR" \
    "$(kafka_log_flags "$KAFKA_CONFIG/kafka")" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG/server.properties"
}

# A real Kafka request (ApiVersions + metadata), not just an open port:
# the listener accepts connections before the broker has caught up with
# its metadata log.
kafka_api_answers() {
  timeout 30 "$JAVA" -Xmx128m -cp "$KAFKA_LIBS/*" "$(kafka_log_flags "$CONF_DIR/tools")" \
    "$(kafka_tool_class BrokerApiVersionsCommand)" --bootstrap-server "$1" >/dev/null 2>&1
}

wait_kafka() {
  local pid deadline
  pid=$(live_pid kafka) || { show_kafka_log_tail; die "kafka exited right after start"; }
  deadline=$(($(now) + WAIT_SECONDS))
  while (($(now) < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file kafka)"
      show_kafka_log_tail
      die "kafka exited during start-up"
    fi
    if port_open "$HOST" "$KAFKA_PORT" && kafka_api_answers "$LOCAL_BROKERS"; then
      say "kafka answers on $LOCAL_BROKERS (pid $pid)"
      ensure_scram_user
      return 0
    fi
    sleep 1
  done
  show_kafka_log_tail
  die "kafka did not answer on $LOCAL_BROKERS within $WAIT_SECONDS s (still running as pid $pid; 'scripts/stack down' stops it)"
}

# KAFKA_BROKERS=host:port[,host:port...]: every broker listed must accept connections.
external_kafka_answers() {
  local broker brokers
  IFS=, read -ra brokers <<<"$KAFKA_BROKERS"
  for broker in "${brokers[@]}"; do
    broker=${broker// /}
    broker=${broker#*://}
    port_open "${broker%:*}" "${broker##*:}" || return 1
  done
}
