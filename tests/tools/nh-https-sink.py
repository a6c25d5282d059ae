#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""nh-https-sink: a webhook receiver for nanohook's TLS and signing tests.

A real HTTP/1.1 server (threaded, keep-alive), optionally over TLS with an
optional client-certificate check, that verifies Standard Webhooks
signatures and records what each POST looked like on the wire, so that a
test can check what nanohook sent as well as how.  Python stdlib only.
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

BODY_MAX = 64 << 20          # larger bodies are answered 413
HANDSHAKE_TIMEOUT = 10       # seconds; a silent client frees its thread


def verify_standard_webhook(secret: str, headers: dict, body: bytes, now=None) -> bool:
    """True if a request carries a valid Standard Webhooks signature.

    secret:  "whsec_<base64 key>" (the "whsec_" prefix is optional)
    headers: the request headers, with lower-case names
    body:    the raw body bytes exactly as received, before any parsing
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > 5 * 60:
        return False  # too old or from the future: a replay, or a bad clock
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for signature in signatures.split():  # several during a key rotation
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


# The published test vector (standard-webhooks libraries' test suites).
VECTOR = dict(
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp="1614265330",
    body=b'{"test": 2432232314}',
    signature="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
)


def self_test() -> int:
    v = VECTOR
    now = int(v["timestamp"])

    def check(secret, body=v["body"], signature=v["signature"], at=now):
        headers = {"webhook-id": v["msg_id"], "webhook-timestamp": v["timestamp"],
                   "webhook-signature": signature}
        return verify_standard_webhook(secret, headers, body, now=at)

    cases = [
        ("published test vector", check(v["secret"]), True),
        ("same, without the whsec_ prefix", check(v["secret"][6:]), True),
        ("one of several signatures", check(v["secret"], signature="v1,Zm9v " + v["signature"]), True),
        ("tampered body", check(v["secret"], body=b'{"test": 2432232315}'), False),
        ("other secret", check("whsec_" + base64.b64encode(b"x" * 24).decode()), False),
        ("v2 label", check(v["secret"], signature="v2" + v["signature"][2:]), False),
        ("timestamp 301 s old", check(v["secret"], at=now + 301), False),
        ("timestamp 301 s ahead", check(v["secret"], at=now - 301), False),
        ("timestamp 300 s old", check(v["secret"], at=now + 300), True),
    ]
    failed = 0
    for name, got, want in cases:
        ok = got == want
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} - {name}: {'valid' if got else 'invalid'}")
    if failed:
        key = base64.b64decode(v["secret"].removeprefix("whsec_"))
        signed = f"{v['msg_id']}.{v['timestamp']}.".encode() + v["body"]
        mac = hmac.new(key, signed, hashlib.sha256).digest()
        print(f"# computed v1,{base64.b64encode(mac).decode()}; expected {v['signature']}")
    return 1 if failed else 0


class Sink:
    """What every connection shares: options, the POST counter, the out file."""

    def __init__(self, args, secret):
        self.args = args
        self.secret = secret
        self.lock = threading.Lock()      # guards posts and out: one line at a time
        self.posts = 0
        self.out = open(args.out, "a", encoding="utf-8") if args.out else None

    def next_post(self) -> int:
        with self.lock:
            self.posts += 1
            return self.posts

    def record(self, entry: dict):
        if self.out is None:
            return
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self.lock:
            self.out.write(line)
            self.out.flush()


def log(message: str):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def handshake_reason(err: Exception) -> str:
    """One readable line: OpenSSL's words for what went wrong."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {err.verify_message}"
    if isinstance(err, ssl.SSLError) and err.reason:
        # "[SSL: X] words (_ssl.c:N)" -> "words (X)"
        words = str(err.args[1]) if len(err.args) > 1 else str(err)
        words = words.split("] ", 1)[-1].split(" (_ssl.c:", 1)[0]
        return f"{words} ({err.reason})"
    if isinstance(err, (TimeoutError, socket.timeout)):
        return f"no handshake within {HANDSHAKE_TIMEOUT} s"
    return str(err) or type(err).__name__


def client_cn(peer_cert) -> "str | None":
    for rdn in (peer_cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return value
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive unless the client says close
    server_version = "nh-https-sink"
    sys_version = ""

    def __init__(self, request, client_address, server, conn_info: dict):
        self.conn_info = conn_info  # before super(), which handles the requests
        self.sink = server.sink
        super().__init__(request, client_address, server)

    def log_message(self, format, *args):
        pass  # one line per request would drown the lines tests grep for

    def answer(self, status: int, text: str = "", close: bool = False):
        body = (text or http.HTTPStatus(status).phrase).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.answer(405, "POST webhooks here")

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_GET

    def read_body(self) -> "bytes | None":
        """The whole body by Content-Length; None once an error is answered."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.answer(411, "send Content-Length", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.answer(400, "bad Content-Length", close=True)
            return None
        if length > BODY_MAX:
            self.answer(413, close=True)
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True  # the client went away mid-body
            return None
        return body

    def do_POST(self):
        sink, args = self.sink, self.sink.args
        body = self.read_body()
        if body is None:
            return
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value

        if sink.secret is None:
            signature = "unchecked"
        elif "webhook-signature" not in headers:
            signature = "absent"
        elif verify_standard_webhook(sink.secret, headers, body):
            signature = "valid"
        else:
            signature = "invalid"

        # An outage comes before any checks, as when a server is down; the
        # signature is still recorded so that retries can be checked too.
        if sink.next_post() <= args.fail_first:
            status = 503
        elif signature in ("absent", "invalid"):
            status = 401
        else:
            status = args.status
        self.answer(status)

        sink.record({
            "path": self.path,
            "body": body.decode("utf-8", errors="replace"),
            "status": status,
            "sni": self.conn_info["sni"],
            "client_cn": self.conn_info["client_cn"],
            "tls": self.conn_info["tls"],
            "signature": signature,
            "headers": headers,
            "conn": self.conn_info["conn"],
        })


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True          # an idle keep-alive client never blocks exit
    allow_reuse_address = True

    def __init__(self, address, family, sink, tls_context):
        self.address_family = family
        self.sink = sink
        self.tls_context = tls_context
        self.connections = 0
        self.sni_by_socket = {}        # SSLSocket -> server name it was asked for
        self.sni_lock = threading.Lock()
        if tls_context is not None:
            tls_context.sni_callback = self.remember_sni
        super().__init__(address, None)  # finish_request makes the Handlers

    def server_bind(self):
        # HTTPServer.server_bind would look the host name up: not needed.
        socketserver.TCPServer.server_bind(self)

    def remember_sni(self, tls_socket, server_name, context):
        # Called during the handshake, in the connection's own thread.
        with self.sni_lock:
            self.sni_by_socket[tls_socket] = server_name

    def finish_request(self, request, client_address):
        # Runs in the connection's thread (ThreadingMixIn), so the TLS
        # handshake does too: a client that stalls it stalls only itself.
        with self.sni_lock:
            self.connections += 1
            info = {"conn": self.connections, "tls": False, "sni": None, "client_cn": None}
        conn = request
        try:
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(
                    request, server_side=True, do_handshake_on_connect=False)
                conn.settimeout(HANDSHAKE_TIMEOUT)
                try:
                    conn.do_handshake()
                except (ssl.SSLError, OSError) as err:
                    log(f"handshake failed: {handshake_reason(err)} "
                        f"(client {client_address[0]}:{client_address[1]})")
                    return
                finally:
                    with self.sni_lock:
                        sni = self.sni_by_socket.pop(conn, None)
                conn.settimeout(None)
                info.update(tls=True, sni=sni, client_cn=client_cn(conn.getpeercert()))
            Handler(conn, client_address, self, info)
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request, client_address):
        err = sys.exc_info()[1]
        if isinstance(err, OSError):  # resets, TLS alerts after the handshake
            log(f"connection error: {err} (client {client_address[0]}:{client_address[1]})")
        else:
            super().handle_error(request, client_address)


def parse_listen(text: str):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ADDR:PORT")
    if host.startswith("[") and host.endswith("]"):
        return (host[1:-1], int(port)), socket.AF_INET6
    return (host or "127.0.0.1", int(port)), socket.AF_INET


def make_tls_context(args) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        context.load_verify_locations(cafile=args.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


HELP_EPILOG = """\
each POST is answered, in this order:
  503   while it is one of the first --fail-first POSTs (all connections)
  401   with --secret-file, if its signature is absent or invalid
  --status otherwise
other methods get 405, a chunked body 411, a body over 64 MiB 413: none of
them is recorded or counted.

--out lines (one JSON object per POST, written after the answer was sent):
  {"path": "/hook", "body": "...", "status": 200, "sni": "localhost" | null,
   "client_cn": "nanohook-test-client" | null, "tls": true,
   "signature": "valid" | "invalid" | "absent" | "unchecked",
   "headers": {"content-type": "application/json", ...}, "conn": 1}
  body is decoded as UTF-8 (bad bytes become U+FFFD); headers have
  lower-case names (repeats joined with ", "); conn numbers the TCP
  connections in accept order, so equal numbers mean keep-alive worked.

Standard Webhooks (https://www.standardwebhooks.com/): the sender signs
"{webhook-id}.{webhook-timestamp}.{body}" with HMAC-SHA256, keyed with the
base64-decoded secret (after the optional "whsec_" prefix), and sends
"webhook-signature: v1,<base64 MAC>" (space-separated when several).
Timestamps more than 5 minutes from now are rejected.

stderr gets one "handshake failed: <reason>" line per failed TLS handshake
(no client certificate, unknown CA, plain HTTP on a TLS port, ...).
SIGTERM or SIGINT: exit 0.

examples:
  nh-https-sink.py --listen 127.0.0.1:0 --out posts.jsonl
  nh-https-sink.py --listen 127.0.0.1:0 --cert server.pem --key server.key \\
      --client-ca ca.pem --secret-file secret --out posts.jsonl
  nh-https-sink.py --self-test
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="nh-https-sink.py",
        description="A webhook receiver for tests: HTTP/1.1 with keep-alive, optional "
                    "TLS and client certificates, Standard Webhooks signature checks. "
                    "Prints \"listening on ADDR:PORT\" (the real port) once ready.",
        epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", metavar="ADDR:PORT", default="127.0.0.1:0", type=parse_listen,
                   help="where to listen; PORT 0 picks a free port; IPv6 as [::1]:PORT "
                        "(default 127.0.0.1:0)")
    p.add_argument("--cert", metavar="FILE", help="serve TLS with this certificate (PEM; "
                   "may hold the chain after it)")
    p.add_argument("--key", metavar="FILE", help="the private key of --cert (PEM, unencrypted)")
    p.add_argument("--client-ca", metavar="FILE",
                   help="require a client certificate signed by this CA; a client without "
                        "one fails the handshake")
    p.add_argument("--secret-file", metavar="FILE",
                   help="verify Standard Webhooks signatures with the secret in FILE "
                        "(\"whsec_<base64>\", surrounding whitespace ignored)")
    p.add_argument("--fail-first", metavar="N", type=int, default=0,
                   help="answer 503 to the first N POSTs")
    p.add_argument("--status", metavar="CODE", type=int, default=200,
                   help="the answer when nothing else applies (default 200)")
    p.add_argument("--out", metavar="FILE", help="append one JSON line per POST to FILE")
    p.add_argument("--self-test", action="store_true",
                   help="check the signature verifier against the published test "
                        "vector and exit 0 (pass) or 1")
    args = p.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")
    if args.client_ca and not args.cert:
        p.error("--client-ca needs --cert and --key")
    if not 100 <= args.status <= 599:
        p.error("--status: expected 100 to 599")
    if args.fail_first < 0:
        p.error("--fail-first: expected 0 or more")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    if args.self_test:
        return self_test()

    secret = None
    try:
        if args.secret_file:
            with open(args.secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
            try:
                base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            except ValueError:
                raise ValueError(f"{args.secret_file}: expected whsec_<base64>") from None
        tls_context = make_tls_context(args) if args.cert else None
        sink = Sink(args, secret)
        address, family = args.listen
        server = Server(address, family, sink, tls_context)
    except (OSError, ssl.SSLError, ValueError) as err:
        print(f"nh-https-sink: {err}", file=sys.stderr)
        return 2

    def stop(signum, frame):
        # Wait for a line being written to finish, then leave at once:
        # handler threads may sit in blocking reads for ever.
        sink.lock.acquire(timeout=2)
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    host, port = server.server_address[:2]
    print(f"listening on {f'[{host}]' if family == socket.AF_INET6 else host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
