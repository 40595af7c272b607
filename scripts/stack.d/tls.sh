# shellcheck shell=bash
# Sourced by scripts/stack: the certificates of the local stack and the SCRAM
# user of the broker's SASL_SSL listener.
#
# One CA signs every server certificate, so a client trusts the whole stack
# with one file, .stack/tls/ca.pem:
#   broker.p12        the broker's key and certificate (PKCS12, password in
#                     broker.p12.password), for the SASL_SSL listener
#   pg-server.pem/key the private PostgreSQL cluster's certificate
# Both certificates name localhost and 127.0.0.1, so hostname verification
# (kafkajs' default, libpq's sslmode=verify-full) passes with either spelling.
# The SCRAM-SHA-512 user is `postbox`; its password is generated once and
# kept in .stack/tls/postbox.password (a development secret, not a real one).

TLS_DIR=$STACK_DIR/tls
SCRAM_USER=postbox
SCRAM_PASSWORD_FILE=$TLS_DIR/$SCRAM_USER.password

# Signs a server certificate for localhost/127.0.0.1 with the stack's CA.
issue_server_certificate() {
  local name=$1 dir=$2
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null &&
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 3650 -out "$dir/$name.pem" \
      -extfile <(printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
        'basicConstraints=CA:FALSE' 'keyUsage=digitalSignature,keyEncipherment' \
        'extendedKeyUsage=serverAuth') 2>/dev/null &&
    rm -f "$dir/$name.csr"
}

# Generates the CA, the certificates and the passwords at first start; later
# starts reuse them (delete .stack/tls to make new ones).
ensure_tls() {
  [[ -f $TLS_DIR/.complete ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed once to make the stack's certificates): apt-get install openssl"
  local tmp=$TLS_DIR.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 700 "$tmp"
  say "generating the stack's CA and server certificates in $(rel "$TLS_DIR")"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Postbox local stack CA" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null || die "openssl could not create the CA"
  issue_server_certificate broker "$tmp" || die "openssl could not create the broker certificate"
  issue_server_certificate pg-server "$tmp" || die "openssl could not create the PostgreSQL certificate"
  openssl rand -hex 16 >"$tmp/broker.p12.password"
  openssl pkcs12 -export -name broker -in "$tmp/broker.pem" -inkey "$tmp/broker.key" \
    -certfile "$tmp/ca.pem" -passout "file:$tmp/broker.p12.password" -out "$tmp/broker.p12" ||
    die "openssl could not create the broker keystore"
  openssl rand -hex 16 >"$tmp/$SCRAM_USER.password"
  # Certificates are public; keys and passwords stay with the owner.
  chmod 600 "$tmp"/*.key "$tmp"/*.password "$tmp/broker.p12"
  chmod 644 "$tmp"/*.pem
  : >"$tmp/.complete"
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
  chmod 755 "$TLS_DIR"
}

# The SCRAM credential lives in the cluster's metadata, so it is created once
# per data folder, over the PLAINTEXT listener, once the broker answers.
# (StorageTool format --add-scram did not give a user that authenticates.)
ensure_scram_user() {
  local marker=$KAFKA_DATA/.scram-$SCRAM_USER
  [[ -f $marker ]] && return 0
  if [[ ! -d $KAFKA_DATA ]] || ! port_open "$HOST" "$SASL_PORT"; then
    warn "the running broker was started without the SASL_SSL listener (or with another Kafka version);" \
      "restart it to get it: scripts/stack stop kafka && scripts/stack start kafka"
    return 0
  fi
  if ! kafka_tool "$(kafka_tool_class ConfigCommand)" --bootstrap-server "$LOCAL_BROKERS" --alter \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=$(<"$SCRAM_PASSWORD_FILE")]" \
    --entity-type users --entity-name "$SCRAM_USER" >>"$KAFKA_OUT" 2>&1; then
    show_log_tail "$KAFKA_OUT"
    die "could not create the SCRAM-SHA-512 user $SCRAM_USER on $LOCAL_BROKERS"
  fi
  : >"$marker"
  say "SCRAM-SHA-512 user $SCRAM_USER created"
}

# "SASL_SSL 127.0.0.1:9094, SCRAM-SHA-512 user postbox (password in ...), CA ..."
sasl_summary() {
  if ! port_open "$HOST" "$SASL_PORT"; then
    printf 'SASL_SSL %s:%s does not answer (a broker started before the listener existed: restart it)' "$HOST" "$SASL_PORT"
    return 0
  fi
  printf 'SASL_SSL %s:%s, SCRAM-SHA-512 user %s (password in %s), CA %s' \
    "$HOST" "$SASL_PORT" "$SCRAM_USER" "$(rel "$SCRAM_PASSWORD_FILE")" "$(rel "$TLS_DIR/ca.pem")"
}
