#!/usr/bin/env bash
# TLS to the endpoint and signed requests, end to end: nanohook attached to
# a real mosquitto posts to a real local HTTPS server (Python's ssl, i.e.
# OpenSSL) using a CA made here; signatures are checked by that server
# with the Standard Webhooks verifier the README quotes. Then: bad key
# material is refused with a clear message, and no secret ever shows up in
# what nanohook prints.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
need_root "tls" || exit 0
for tool in openssl python3 mosquitto mosquitto_pub; do
	if ! command -v "$tool" >/dev/null; then
		not_ok "tls" "$tool is not installed (scripts/install-deps.sh)"
		exit 0
	fi
done
HSINK=$NH_TOP/tests/tools/nh-https-sink.py
PKI=$WORK/pki
make_test_pki "$PKI" || { not_ok "tls: test PKI" "openssl failed"; exit 0; }
SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
printf '%s\n' "$SECRET" >"$WORK/secret"
chmod 600 "$WORK/secret"
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64)" >"$WORK/other-secret"

start_mosquitto tls || { not_ok "tls: mosquitto starts" "see log"; exit 0; }

# start_https NAME [sink options]: sets HS_PID, HS_PORT, HS_OUT, HS_LOG.
start_https() {
	local name=$1; shift
	HS_OUT=$WORK/$name.posts
	HS_LOG=$WORK/$name.https.log
	: >"$HS_OUT"
	python3 "$HSINK" --listen 127.0.0.1:0 --out "$HS_OUT" "$@" >"$HS_LOG" 2>&1 &
	HS_PID=$!
	_pids+=("$HS_PID")
	wait_for 15 grep -qs '^listening on ' "$HS_LOG" || return 1
	HS_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$HS_LOG" | head -1)
	[ -n "$HS_PORT" ]
}

# conf FILE URL 'tls lines' ['nanohook block lines']
conf() {
	cat >"$1" <<CONF
webhook {
  url = "$2"
  pool_size = 2
  cancel_timeout = 2s
  events = [ { event = "on_message_publish", topic = "tls/#" } ]
  $3
}
nanohook {
  retry { initial = 50ms, max_delay = 200ms, max_attempts = 1000 }
  drain_timeout = 500ms
  $4
}
CONF
}

# publish NAME N: N messages "NAME-1".."NAME-N" on tls/NAME.
publish() {
	local i
	for i in $(seq 1 "$2"); do
		mosquitto_pub -p "$MOSQ_PORT" -i "pub-$1" -t "tls/$1" -m "$1-$i" -q 1
	done
}

# posts_where FILE PYTHON_EXPR: how many --out lines satisfy the expression
# (of `p`, one parsed line).
posts_where() {
	python3 - "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    p = json.loads(line)
    if eval(sys.argv[2]):
        n += 1
print(n)
PY
}

# delivered_case NAME N: N bodies of NAME were answered 200, each once,
# over TLS, and the summary agrees.
delivered_case() {
	local name=$1 n=$2 got
	wait_for 20 lines_at_least "$HS_OUT" "$n"
	stop_nanohook
	got=$(posts_where "$HS_OUT" "p['status'] == 200 and p['tls'] and p['body'].count('\"payload\":\"$name-')")
	if [ "$got" = "$n" ] && [ "$(summary_value posted)" = "$n" ]; then
		ok "$name: $n events delivered over TLS (posted $n)"
	else
		not_ok "$name" "$got of $n answered 200 over TLS; summary posted $(summary_value posted)"
		sed 's/^/#   /' "$NH_LOG" | head -30
	fi
}

# refused_case NAME N WHAT: nothing reached the endpoint, nanohook said
# why (WHAT, a regex), and the events were kept, not lost.
refused_case() {
	local name=$1 n=$2 what=$3 posted
	# An attempt has failed and said why: the refusal is on record.
	wait_for 30 grep -Eq "$what" "$NH_LOG"
	stop_nanohook
	posted=$(summary_value posted)
	if [ "$(posts_where "$HS_OUT" "p['status'] == 200")" = 0 ] && [ "$posted" = 0 ] &&
		grep -Eq "$what" "$NH_LOG" && grep -q "kept in the spool" "$NH_LOG" &&
		[ "$(summary_value dropped)" = 0 ]; then
		ok "$name: refused ($(grep -Eo "$what" "$NH_LOG" | head -1)); the $n events are kept in the spool"
	else
		not_ok "$name" "posted $posted, or no '$what', or events not kept"
		sed 's/^/#   /' "$NH_LOG" | head -30
	fi
}

# ---- 1. verified against the test CA; connections kept alive ----------------------
name=ca
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { cacertfile = \"$PKI/ca.pem\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 6 && delivered_case $name 6
conns=$(python3 -c 'import json,sys; print(len({json.loads(l)["conn"] for l in open(sys.argv[1])}))' "$HS_OUT")
if [ "$conns" -ge 1 ] && [ "$conns" -le 2 ]; then
	ok "$name: 6 requests over $conns TLS connection(s): kept alive (pool_size 2)"
else
	not_ok "$name: keep-alive" "$conns connections for 6 requests"
fi

# A relative path is relative to the config file.
name=relative
cp "$PKI/ca.pem" "$WORK/relative-ca.pem"
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key"
conf "$WORK/$name.conf" "https://localhost:$HS_PORT/hook" 'tls { cacertfile = "relative-ca.pem" }'
(cd / && start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2 && delivered_case $name 2)

# ---- 2. verification is on by default ---------------------------------------------
name=default-verify
start_https $name --cert "$PKI/rogue.pem" --key "$PKI/rogue.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" ""
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 3 &&
	refused_case $name 3 "SSL certificate problem[^(]*"

name=unknown-ca
start_https $name --cert "$PKI/rogue.pem" --key "$PKI/rogue.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { cacertfile = \"$PKI/ca.pem\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 3 &&
	refused_case $name 3 "SSL certificate problem[^(]*"

# ---- 3. server_name: SNI, Host and the name checked ----------------------------------
name=wrong-name
start_https $name --cert "$PKI/named.pem" --key "$PKI/named.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { cacertfile = \"$PKI/ca.pem\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2 &&
	refused_case $name 2 "certificate subject name[^)]*|does not match target host name[^)]*|no alternative certificate subject name[^)]*"

name=server-name
start_https $name --cert "$PKI/named.pem" --key "$PKI/named.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" \
	"tls { cacertfile = \"$PKI/ca.pem\", server_name = hooks.example }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 3 && delivered_case $name 3
n=$(posts_where "$HS_OUT" "p['sni'] == 'hooks.example' and p['headers'].get('host', '').startswith('hooks.example')")
if [ "$n" = 3 ]; then
	ok "$name: SNI and Host are hooks.example while connecting to 127.0.0.1"
else
	not_ok "$name: SNI/Host" "$n of 3 requests named hooks.example"
fi

# ---- 4. verify = false: delivered, with a warning ------------------------------------
name=no-verify
start_https $name --cert "$PKI/rogue.pem" --key "$PKI/rogue.key"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { verify = false }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2 && delivered_case $name 2
if grep -q "verify = false: the endpoint's certificate is not checked" "$NH_LOG"; then
	ok "$name: warns that the certificate is not checked"
else
	not_ok "$name: warning" "none"
fi

# ---- 5. mutual TLS --------------------------------------------------------------------
name=mtls-no-cert
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { cacertfile = \"$PKI/ca.pem\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2 &&
	refused_case $name 2 "webhook https://127.0.0.1:[0-9]+/hook: [^(]*"   # curl's words vary with timing
if grep -q "handshake failed: peer did not return a certificate" "$HS_LOG"; then
	ok "$name: the server saw no client certificate"
else
	not_ok "$name: server side" "$(head -3 "$HS_LOG" | tr '\n' ';')"
fi

name=mtls
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" \
	"tls { cacertfile = \"$PKI/ca.pem\", certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client.key\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 3 && delivered_case $name 3
n=$(posts_where "$HS_OUT" "p['client_cn'] == 'nanohook-test-client'")
[ "$n" = 3 ] && ok "$name: the server verified nanohook's client certificate (CN=nanohook-test-client)" ||
	not_ok "$name: client certificate" "$n of 3 requests carried it"

# Read before privileges are dropped: with --user the root-only key file
# is out of reach, and new connections still present the certificate.
name=mtls-user
if id nobody >/dev/null 2>&1; then
	start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem"
	conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" \
		"tls { cacertfile = \"$PKI/ca.pem\", certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client.key\" }" \
		'spool.dir = ""'
	start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" --spool-dir "" --user nobody && publish $name 2 &&
		delivered_case $name 2
	if [ "$(stat -c %a "$PKI/client.key")" = 600 ] && grep -q "now running as nobody\|as user nobody\|running as nobody" "$NH_LOG"; then
		ok "$name: as nobody, with a 0600 root key file, the client certificate still works"
	else
		not_ok "$name" "key mode $(stat -c %a "$PKI/client.key"), or no switch to nobody in the log"
		sed 's/^/#   /' "$NH_LOG" | head
	fi
else
	skip "$name" "no user nobody"
fi

name=mtls-encrypted-key
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key" --client-ca "$PKI/ca.pem"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" \
	"tls { cacertfile = \"$PKI/ca.pem\", certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client-enc.key\", key_password = \"$PKI_PASSPHRASE\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2 && delivered_case $name 2

# ---- 6. bad key material: one clear line, before attaching ----------------------------------
# check_refuses NAME 'tls lines' REGEX: `check` exits 2 and says REGEX; a
# run refuses to attach with the same words.
check_refuses() {
	local name=$1 tls=$2 want=$3 rc out
	conf "$WORK/$name.conf" "https://127.0.0.1:1/hook" "$tls"
	"$NANOHOOK" check --conf "$WORK/$name.conf" >"$WORK/$name.check" 2>&1
	rc=$?
	"$NANOHOOK" --pid "$MOSQ_PID" --conf "$WORK/$name.conf" --spool-dir "$WORK/$name.spool" \
		>"$WORK/$name.run" 2>&1
	if [ $rc = 2 ] && grep -Eq "$want" "$WORK/$name.check" && grep -Eq "$want" "$WORK/$name.run" &&
		! grep -q 'attached to' "$WORK/$name.run"; then
		ok "bad tls $name: check and run refuse: $(grep -Eo "$want" "$WORK/$name.check" | head -1)"
	else
		not_ok "bad tls $name" "check exit $rc; want /$want/"
		sed 's/^/#   /' "$WORK/$name.check" "$WORK/$name.run" | head -20
	fi
}
check_refuses key-mismatch \
	"tls { certfile = \"$PKI/client.pem\", keyfile = \"$PKI/other.key\" }" \
	"keyfile .*other.key does not match the certificate in webhook.tls.certfile .*client.pem"
check_refuses key-missing \
	"tls { certfile = \"$PKI/client.pem\", keyfile = \"$PKI/absent.key\" }" \
	"webhook.tls.keyfile .*absent.key: cannot read: No such file or directory"
check_refuses key-encrypted \
	"tls { certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client-enc.key\" }" \
	"the key is encrypted; set webhook.tls.key_password"
check_refuses key-password \
	"tls { certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client-enc.key\", key_password = wrong }" \
	"cannot decrypt the key with webhook.tls.key_password"
check_refuses ca-not-pem \
	"tls { cacertfile = \"$PKI/ca.key\" }" \
	"webhook.tls.cacertfile .*ca.key: no PEM certificate in it"
check_refuses cert-is-key \
	"tls { certfile = \"$PKI/client.key\", keyfile = \"$PKI/client.key\" }" \
	"webhook.tls.certfile .*client.key: no PEM certificate in it"

# A tls block on an http:// url: the user meant to encrypt.
cat >"$WORK/http-tls.conf" <<CONF
webhook {
  url = "http://127.0.0.1:1/hook"
  events = [ { event = "on_message_publish" } ]
  tls { cacertfile = "$PKI/ca.pem" }
}
CONF
"$NANOHOOK" check --conf "$WORK/http-tls.conf" >"$WORK/http-tls.check" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "the url http://127.0.0.1:1/hook is not https://" "$WORK/http-tls.check"; then
	ok "a tls block on an http:// url is an error"
else
	not_ok "tls on http://" "exit $rc"; sed 's/^/#   /' "$WORK/http-tls.check"
fi

conf "$WORK/check-ok.conf" "https://127.0.0.1:1/hook" \
	"tls { cacertfile = \"$PKI/ca.pem\", certfile = \"$PKI/client.pem\", keyfile = \"$PKI/client.key\" }"
"$NANOHOOK" check --conf "$WORK/check-ok.conf" >"$WORK/check-ok.out" 2>&1
if grep -q "tls: endpoint verified against 1 CA certificate from cacertfile" "$WORK/check-ok.out" &&
	grep -q "tls: client certificate .*CN *= *nanohook-test-client.*its key matches" "$WORK/check-ok.out"; then
	ok "check describes the CA and the client certificate"
else
	not_ok "check tls" "unexpected"; sed 's/^/#   /' "$WORK/check-ok.out"
fi

# ---- 7. signatures (Standard Webhooks) ----------------------------------------------------
# ids_consistent FILE: every body's attempts share one webhook-id, and no
# two bodies share one.
ids_consistent() {
	python3 - "$1" <<'PY'
import json, sys
by_body, by_id = {}, {}
for line in open(sys.argv[1]):
    p = json.loads(line)
    i = p["headers"].get("webhook-id", "")
    by_body.setdefault(p["body"], set()).add(i)
    by_id.setdefault(i, set()).add(p["body"])
bad = [b for b, ids in by_body.items() if len(ids) != 1] + [i for i, b in by_id.items() if len(b) != 1]
print(len(by_body), "bodies,", len(by_id), "ids;", "ok" if not bad else "MISMATCH")
sys.exit(1 if bad else 0)
PY
}

name=signed
start_https $name --secret-file "$WORK/secret" --fail-first 3
conf "$WORK/$name.conf" "http://127.0.0.1:$HS_PORT/hook" "" "sign { secret_file = \"$WORK/secret\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 5
wait_for 20 eval '[ "$(posts_where "$HS_OUT" "p[\"status\"] == 200")" = 5 ]'
stop_nanohook
valid=$(posts_where "$HS_OUT" "p['signature'] == 'valid'")
total=$(wc -l <"$HS_OUT")
if [ "$valid" = "$total" ] && [ "$(posts_where "$HS_OUT" "p['status'] == 200")" = 5 ] && [ "$total" = 8 ]; then
	ok "$name: all $total requests (5 events, 3 retried after 503) carry a valid signature"
else
	not_ok "$name" "$valid of $total valid; want 8 requests, 5 answered 200"
fi
if report=$(ids_consistent "$HS_OUT"); then
	ok "$name: webhook-id is the same on every attempt of an event, unique per event ($report)"
else
	not_ok "$name: webhook-id" "$report"
fi

name=signed-tls-env
start_https $name --cert "$PKI/server.pem" --key "$PKI/server.key" --secret-file "$WORK/secret"
conf "$WORK/$name.conf" "https://127.0.0.1:$HS_PORT/hook" "tls { cacertfile = \"$PKI/ca.pem\" }" \
	'sign { secret_env = "NH_TEST_WEBHOOK_SECRET" }'
NH_TEST_WEBHOOK_SECRET=$SECRET start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 3 &&
	delivered_case $name 3
[ "$(posts_where "$HS_OUT" "p['signature'] == 'valid'")" = 3 ] &&
	ok "$name: signed with the secret from the environment, over TLS" ||
	not_ok "$name: signatures" "not all valid"

# The verifier can fail: a receiver with another secret refuses every request.
name=signed-wrong-secret
start_https $name --secret-file "$WORK/other-secret"
conf "$WORK/$name.conf" "http://127.0.0.1:$HS_PORT/hook" "" "sign { secret_file = \"$WORK/secret\" }"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" && publish $name 2
wait_for 10 lines_at_least "$HS_OUT" 2
stop_nanohook
if [ "$(posts_where "$HS_OUT" "p['status'] == 401 and p['signature'] == 'invalid'")" = 2 ] &&
	[ "$(summary_value posted)" = 0 ]; then
	ok "$name: a receiver with another secret answers 401 to both; nothing counted as delivered"
else
	not_ok "$name" "$(wc -l <"$HS_OUT") requests; posted $(summary_value posted)"
fi

cat >"$WORK/secret-inline.conf" <<CONF
webhook { url = "http://127.0.0.1:1/", events = [ { event = "on_message_publish" } ] }
nanohook { sign { secret = "$SECRET" } }
CONF
if ! "$NANOHOOK" check --conf "$WORK/secret-inline.conf" >"$WORK/secret-inline.out" 2>&1 &&
	grep -q "the secret is not written in the config" "$WORK/secret-inline.out" &&
	! grep -qF "$SECRET" "$WORK/secret-inline.out"; then
	ok "a signing secret written in the config is refused, without echoing it"
else
	not_ok "sign.secret inline" "accepted, or echoed"
fi
printf 'not-base64!\n' >"$WORK/bad-secret"
conf "$WORK/bad-secret.conf" "http://127.0.0.1:1/" "" "sign { secret_file = \"$WORK/bad-secret\" }"
if ! "$NANOHOOK" check --conf "$WORK/bad-secret.conf" >"$WORK/bad-secret.out" 2>&1 &&
	grep -q "the secret must be base64 of 24 to 64 random bytes" "$WORK/bad-secret.out" &&
	! grep -q "not-base64" "$WORK/bad-secret.out"; then
	ok "a malformed secret is refused with how to make one, without echoing it"
else
	not_ok "bad secret" "$(tr '\n' ';' <"$WORK/bad-secret.out")"
fi

# ---- 8. secrets never appear in what nanohook prints ----------------------------------------
name=secrets
port=$(pick_port)
cat >"$WORK/$name.conf" <<CONF
webhook {
  url = "https://hookuser:UrlPassw0rd@127.0.0.1:$port/hook?token=QueryT0ken"
  headers.authorization = "Bearer HeaderT0ken"
  headers.x-api-key = "ApiK3yValue"
  pool_size = 1
  events = [ { event = "on_message_publish", topic = "tls/#" } ]
  tls {
    cacertfile = "$PKI/ca.pem"
    certfile = "$PKI/client.pem"
    keyfile = "$PKI/client-enc.key"
    key_password = "$PKI_PASSPHRASE"
  }
}
nanohook {
  retry { initial = 50ms, max_delay = 100ms, max_attempts = 3 }
  sign { secret_env = "NH_TEST_WEBHOOK_SECRET" }
}
CONF
"$NANOHOOK" check --conf "$WORK/$name.conf" >"$WORK/$name.check" 2>&1
NH_TEST_WEBHOOK_SECRET=$SECRET start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" \
	--metrics 127.0.0.1:0 && publish $name 3
wait_for 30 metric_is events_delivered_total -ge 3
kill -USR1 "$NH_PID"
metrics=$(sed -n 's|.*metrics on http://\(.*\)/metrics$|\1|p' "$NH_LOG")
[ -n "$metrics" ] && curl -s "http://$metrics/metrics" >"$WORK/$name.metrics"
"$NANOHOOK" stats --metrics "$metrics" >"$WORK/$name.stats" 2>&1
stop_nanohook
cat "$WORK/$name.check" "$NH_LOG" "$NH_STDOUT" "$WORK/$name.metrics" "$WORK/$name.stats" \
	"$WORK/$name.spool"/dead-letter.jsonl 2>/dev/null >"$WORK/$name.all"
leaked=
for s in UrlPassw0rd QueryT0ken HeaderT0ken ApiK3yValue "$PKI_PASSPHRASE" "${SECRET#whsec_}"; do
	grep -qF -- "$s" "$WORK/$name.all" && leaked="$leaked $s"
done
if [ -z "$leaked" ] && grep -q "Failed to connect\|Couldn't connect" "$NH_LOG" &&
	grep -q 'hookuser:\*\*\*\*@127.0.0.1' "$NH_LOG" && grep -q 'key_password = \*\*\*\*' "$WORK/$name.check"; then
	ok "$name: no password, token, key password or signing secret in check, logs, stats or metrics"
else
	not_ok "$name" "leaked:${leaked:- none, but the expected redacted lines are missing}"
	sed 's/^/#   /' "$WORK/$name.check" "$NH_LOG" | head -30
fi
