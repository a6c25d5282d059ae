# Sourced by TLS tests: make_test_pki DIR makes a throwaway test PKI in DIR
# with the openssl CLI (EC P-256 keys: fast; 2-day certificates: useless
# once a test is over).  openssl's chatter goes to DIR/openssl.log; on a
# failure make_test_pki says which step failed, shows the log's tail on
# stderr and returns 1.  Private keys are mode 0600.  What it makes:
#   ca.pem ca.key             the test CA
#   server.pem server.key     CN=localhost, SAN DNS:localhost IP:127.0.0.1
#                             IP:::1, serverAuth; signed by ca
#   named.pem named.key       SAN DNS:hooks.example only (no IP): for a
#                             test of the SNI/verification name override
#   client.pem client.key     CN=nanohook-test-client, clientAuth; by ca
#   client-enc.key            client.key as encrypted PKCS#8 (AES-256),
#                             passphrase "test-pass"
#   other.key                 an unrelated key: does not match client.pem
#   rogue-ca.pem rogue.pem rogue.key
#                             another CA, and a server certificate for
#                             localhost/127.0.0.1 signed by it: a server
#                             that verification against ca.pem rejects
# Each certificate is checked against its CA before make_test_pki returns.

PKI_DAYS=2
PKI_PASSPHRASE=test-pass

make_test_pki() {
	local dir=${1:?usage: make_test_pki DIR}
	mkdir -p "$dir" || return 1
	: >"$dir/openssl.log" || return 1
	# A subshell for the umask, so that the caller's stays as it was;
	# explicit returns, not set -e, which is off when a caller writes
	# "make_test_pki DIR || ...".
	if ! (umask 077 && _pki_make "$dir"); then
		echo "make_test_pki: failed in $dir; the end of $dir/openssl.log:" >&2
		tail -n 15 "$dir/openssl.log" | sed 's/^/  /' >&2
		return 1
	fi
}

# _pki_openssl DIR STEP ARGS...: one openssl command, logged under STEP.
_pki_openssl() {
	local dir=$1 step=$2; shift 2
	echo "== $step: openssl $*" >>"$dir/openssl.log"
	if ! openssl "$@" >>"$dir/openssl.log" 2>&1 </dev/null; then
		echo "== $step FAILED" >>"$dir/openssl.log"
		return 1
	fi
}

_pki_key() { # DIR NAME
	_pki_openssl "$1" "key $2" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1/$2.key" && chmod 600 "$1/$2.key"
}

_pki_ca() { # DIR NAME CN
	_pki_key "$1" "$2" &&
	_pki_openssl "$1" "CA $2" req -new -x509 -config "$1/pki.cnf" -extensions ca_ext \
		-key "$1/$2.key" -subj "/CN=$3" -days "$PKI_DAYS" -sha256 -out "$1/$2.pem" &&
	chmod 644 "$1/$2.pem"
}

_pki_cert() { # DIR NAME CN CA EXTENSIONS: a new key and a certificate signed by CA
	local dir=$1 name=$2
	_pki_key "$dir" "$name" &&
	_pki_openssl "$dir" "request $name" req -new -config "$dir/pki.cnf" \
		-key "$dir/$name.key" -subj "/CN=$3" -out "$dir/$name.csr" &&
	# A random serial, so that no serial file is left behind.
	_pki_openssl "$dir" "sign $name" x509 -req -in "$dir/$name.csr" \
		-CA "$dir/$4.pem" -CAkey "$dir/$4.key" -set_serial "0x$(openssl rand -hex 15)" \
		-days "$PKI_DAYS" -sha256 -extfile "$dir/pki.cnf" -extensions "$5" \
		-out "$dir/$name.pem" &&
	chmod 644 "$dir/$name.pem" &&
	rm -f "$dir/$name.csr"
}

_pki_make() {
	local dir=$1
	# Our own config, not the system's openssl.cnf, so that no default
	# extension slips in.
	cat >"$dir/pki.cnf" <<-'CNF' || return 1
	[req]
	distinguished_name = dn
	prompt = no
	[dn]
	CN = unused
	[ca_ext]
	basicConstraints = critical, CA:TRUE, pathlen:0
	keyUsage = critical, keyCertSign, cRLSign
	subjectKeyIdentifier = hash
	[server_ext]
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature
	extendedKeyUsage = serverAuth
	subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
	subjectKeyIdentifier = hash
	authorityKeyIdentifier = keyid
	[named_ext]
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature
	extendedKeyUsage = serverAuth
	subjectAltName = DNS:hooks.example
	subjectKeyIdentifier = hash
	authorityKeyIdentifier = keyid
	[client_ext]
	basicConstraints = critical, CA:FALSE
	keyUsage = critical, digitalSignature
	extendedKeyUsage = clientAuth
	subjectKeyIdentifier = hash
	authorityKeyIdentifier = keyid
	CNF
	_pki_ca "$dir" ca "nanohook test CA" &&
	_pki_cert "$dir" server localhost ca server_ext &&
	_pki_cert "$dir" named hooks.example ca named_ext &&
	_pki_cert "$dir" client nanohook-test-client ca client_ext &&
	_pki_openssl "$dir" "encrypt client.key" pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 \
		-in "$dir/client.key" -out "$dir/client-enc.key" -passout "pass:$PKI_PASSPHRASE" &&
	chmod 600 "$dir/client-enc.key" &&
	_pki_key "$dir" other &&
	_pki_ca "$dir" rogue-ca "nanohook rogue CA" &&
	_pki_cert "$dir" rogue localhost rogue-ca server_ext &&
	_pki_openssl "$dir" "verify ca" verify -CAfile "$dir/ca.pem" -x509_strict \
		"$dir/server.pem" "$dir/named.pem" "$dir/client.pem" &&
	_pki_openssl "$dir" "verify rogue-ca" verify -CAfile "$dir/rogue-ca.pem" -x509_strict \
		"$dir/rogue.pem"
}
