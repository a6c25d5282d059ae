#!/usr/bin/env python3
"""Scripted MQTT client behaviours for the conformance tests.

Drives one broker (HOST:PORT) through the client behaviours that make
webhook events hard to get right: wills and will delay, session expiry,
takeovers, offline queueing, QoS 1/2 redelivery on reconnect, client
resends (DUP), topic aliases, flow control (receive maximum), overlapping
subscriptions, `$` topics, zero-length client ids, a refused password and a
CONNECT with an unknown protocol level.

A plain socket client rather than a library: the script must withhold
acks, resend with DUP, and send what a library refuses to send, and every
wait is on a packet, not on time. What the broker is expected to have done
is checked by the test against the broker's own log, not here; the script
only fails when the broker does not answer as MQTT says.

Usage: nh-mqtt-script.py HOST PORT [SCENARIO ...]   (default: all)
NH_MQTT_TIMEOUT (seconds, default 10): how long a packet is waited for.
"""

import os
import socket
import struct
import sys
import time

TIMEOUT = float(os.environ.get("NH_MQTT_TIMEOUT", "10"))
HOST = "127.0.0.1"

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

# MQTT 5 property identifiers used here
P_SESSION_EXPIRY, P_WILL_DELAY, P_RECEIVE_MAX, P_TOPIC_ALIAS = 0x11, 0x18, 0x21, 0x23


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def props(items):
    """MQTT 5 properties from (id, value) pairs; the value's width is the id's."""
    out = bytearray()
    for pid, val in items:
        out.append(pid)
        if pid in (P_SESSION_EXPIRY, P_WILL_DELAY):
            out += struct.pack(">I", val)
        elif pid in (P_RECEIVE_MAX, P_TOPIC_ALIAS):
            out += struct.pack(">H", val)
        else:
            raise ValueError(pid)
    return varint(len(out)) + bytes(out)


class ProtocolError(Exception):
    pass


class Client:
    def __init__(self, port, cid, v5=False):
        self.cid, self.v5 = cid, v5
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.buf = b""
        self.early = []
        self.next_mid = 1

    # --- bytes ---------------------------------------------------------
    def send(self, ptype, flags, body):
        self.sock.sendall(bytes([ptype << 4 | flags]) + varint(len(body)) + body)

    def take(self):
        """One whole packet off the buffer, or None."""
        length, mult, i = 0, 1, 1
        while i < len(self.buf):
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                if len(self.buf) < i + length:
                    return None
                pkt, self.buf = self.buf[:i + length], self.buf[i + length:]
                return pkt[0] >> 4, pkt[0] & 15, pkt[i:]
        return None

    def recv(self):
        """One packet: (type, flags, body)."""
        while True:
            pkt = self.take()
            if pkt and pkt[0] == PUBREL:  # ends a QoS 2 receive whenever it comes
                self.send(PUBCOMP, 0, pkt[2][:2])
            elif pkt:
                return pkt
            else:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ProtocolError(f"{self.cid}: connection closed by the broker")
                self.buf += chunk

    def expect(self, ptype):
        while True:
            t, f, body = self.recv()
            if t == PUBLISH and ptype != PUBLISH:
                # a message before the answer waited for (NanoMQ sends
                # retained messages before the SUBACK): kept for receive()
                self.early.append((f, body))
                continue
            if t != ptype:
                raise ProtocolError(f"{self.cid}: expected packet {ptype}, got {t}")
            return f, body

    def closed_by_broker(self):
        """True once the broker has closed the connection (waits for it)."""
        try:
            while True:
                self.recv()
        except (ProtocolError, ConnectionResetError):
            return True
        except socket.timeout:
            return False

    # --- packets -------------------------------------------------------
    def connect(self, clean=True, keepalive=60, user=None, password=None, will=None,
                expiry=None, will_delay=None, receive_max=None, level=None):
        flags = 0x02 if clean else 0
        payload = utf8(self.cid)
        if will:
            topic, msg, qos = will
            flags |= 0x04 | qos << 3
            if self.v5:
                payload += props([(P_WILL_DELAY, will_delay)] if will_delay else [])
            payload += utf8(topic) + utf8(msg)
        if user is not None:
            flags |= 0x80
            payload += utf8(user)
        if password is not None:
            flags |= 0x40
            payload += utf8(password)
        level = level or (5 if self.v5 else 4)
        var = utf8("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
        if self.v5:
            p = []
            if expiry is not None:
                p.append((P_SESSION_EXPIRY, expiry))
            if receive_max is not None:
                p.append((P_RECEIVE_MAX, receive_max))
            var += props(p)
        self.send(CONNECT, 0, var + payload)
        _, body = self.expect(CONNACK)
        return body[0] & 1, body[1]  # session present, return/reason code

    def subscribe(self, *filters, qos=1):
        mid = self.mid()
        body = struct.pack(">H", mid) + (b"\x00" if self.v5 else b"")
        for f in filters:
            body += utf8(f) + bytes([qos])
        self.send(SUBSCRIBE, 2, body)
        _, ack = self.expect(SUBACK)
        return list(ack[3:] if self.v5 else ack[2:])

    def unsubscribe(self, *filters):
        body = struct.pack(">H", self.mid()) + (b"\x00" if self.v5 else b"")
        for f in filters:
            body += utf8(f)
        self.send(UNSUBSCRIBE, 2, body)
        self.expect(UNSUBACK)

    def mid(self):
        m = self.next_mid
        self.next_mid = m % 65535 + 1
        return m

    def publish(self, topic, payload, qos=0, retain=False, mid=None, dup=False, alias=None,
                complete=True):
        """Publishes; with complete, runs the QoS flow to its end."""
        flags = qos << 1 | (1 if retain else 0) | (8 if dup else 0)
        body = utf8(topic)
        if qos:
            mid = mid or self.mid()
            body += struct.pack(">H", mid)
        if self.v5:
            body += props([(P_TOPIC_ALIAS, alias)] if alias else [])
        self.send(PUBLISH, flags, body + (payload.encode() if isinstance(payload, str) else payload))
        if qos and complete:
            self.finish_publish(qos, mid)
        return mid

    def finish_publish(self, qos, mid):
        if qos == 1:
            self.expect(PUBACK)
        elif qos == 2:
            self.expect(PUBREC)
            self.send(PUBREL, 2, struct.pack(">H", mid))
            self.expect(PUBCOMP)

    def receive(self, ack=True):
        """The next PUBLISH: (topic, payload, qos, dup, mid); acked unless told."""
        flags, body = self.early.pop(0) if self.early else self.expect(PUBLISH)
        qos = flags >> 1 & 3
        tlen = struct.unpack(">H", body[:2])[0]
        topic, rest = body[2:2 + tlen].decode(), body[2 + tlen:]
        mid = None
        if qos:
            mid, rest = struct.unpack(">H", rest[:2])[0], rest[2:]
        if self.v5:
            plen, i, mult = 0, 0, 1
            while True:
                b = rest[i]
                plen += (b & 0x7F) * mult
                mult *= 128
                i += 1
                if not b & 0x80:
                    break
            rest = rest[i + plen:]
        if ack:
            self.ack(qos, mid)
        return topic, rest.decode(errors="replace"), qos, bool(flags & 8), mid

    def ack(self, qos, mid):
        if qos == 1:
            self.send(PUBACK, 0, struct.pack(">H", mid))
        elif qos == 2:  # recv() answers the PUBREL
            self.send(PUBREC, 0, struct.pack(">H", mid))

    def ping(self):
        """A round trip: everything the broker sent before the PINGRESP
        has been read (and acked, QoS 1) on the way."""
        self.send(PINGREQ, 0, b"")
        got = [self.receive() for _ in range(len(self.early))]
        while True:
            t, f, body = self.recv()
            if t == PINGRESP:
                return got
            if t != PUBLISH:
                raise ProtocolError(f"{self.cid}: unexpected packet {t} before PINGRESP")
            self.buf = bytes([t << 4 | f]) + varint(len(body)) + body + self.buf
            got.append(self.receive())

    def disconnect(self, expiry=None):
        if self.v5 and expiry is not None:
            self.send(DISCONNECT, 0, b"\x00" + props([(P_SESSION_EXPIRY, expiry)]))
        else:
            self.send(DISCONNECT, 0, b"")
        self.closed_by_broker()
        self.sock.close()

    def drop(self):
        """Closes the socket without DISCONNECT: the will goes out."""
        self.sock.close()


def check(what, cond):
    if not cond:
        raise ProtocolError(what)


def connected(port, cid, v5=False, **connect_args):
    c = Client(port, cid, v5=v5)
    c.connect(**connect_args)
    return c


def subscriber(port, cid, *filters, qos=1, v5=False, **connect_args):
    c = connected(port, cid, v5=v5, **connect_args)
    c.subscribe(*filters, qos=qos)
    return c


def fresh(port, cid):
    """Ends whatever session an earlier run left under cid."""
    c = Client(port, cid)
    c.connect(clean=True)
    c.disconnect()


# --- scenarios: each ends with every one of its connections closed -------

def basic(port):
    sub = connected(port, "cf-basic-sub")
    check("SUBACK grants QoS 2", sub.subscribe("cf/basic/#", qos=2) == [2])
    pub = connected(port, "cf-basic-pub", v5=True, user="alice")
    for qos in (0, 1, 2):
        pub.publish("cf/basic/q%d" % qos, "basic %d" % qos, qos=qos)
        check("message %d arrives" % qos, sub.receive()[1] == "basic %d" % qos)
    pub.publish("cf/basic/empty", "", qos=1)
    check("empty message arrives", sub.receive()[1] == "")
    pub.disconnect()
    sub.disconnect()


def retained(port):
    pub = connected(port, "cf-ret-pub")
    pub.publish("cf/ret/a", "kept", qos=1, retain=True)
    pub.disconnect()
    sub = subscriber(port, "cf-ret-sub", "cf/ret/#", qos=1)
    check("retained message arrives", sub.receive()[1] == "kept")
    pub = connected(port, "cf-ret-clear")
    pub.publish("cf/ret/a", "", qos=0, retain=True)  # clears the retained message
    pub.disconnect()
    sub.receive()
    sub.disconnect()


def will(port):
    sub = subscriber(port, "cf-will-sub", "cf/will/#", qos=1)
    w = Client(port, "cf-will")
    w.connect(will=("cf/will/gone", "bye", 1))
    w.drop()
    check("will arrives", sub.receive()[0] == "cf/will/gone")
    # a will a clean DISCONNECT discards
    w = Client(port, "cf-will-clean")
    w.connect(will=("cf/will/never", "no", 1))
    w.disconnect()
    sub.ping()
    sub.disconnect()


def will_delay(port):
    sub = subscriber(port, "cf-wd-sub", "cf/wd/#", qos=1)
    # the session ends with the connection, its will waits 1 s
    w = Client(port, "cf-wd", v5=True)
    w.connect(will=("cf/wd/later", "late", 1), will_delay=1, expiry=0)
    w.drop()
    check("delayed will arrives", sub.receive()[0] == "cf/wd/later")
    # the session outlives the connection by 1 s; the will goes out when
    # it ends
    w = Client(port, "cf-wd-kept", v5=True)
    w.connect(will=("cf/wd/kept", "late", 1), will_delay=30, expiry=1, clean=False)
    w.drop()
    check("will at session end arrives", sub.receive()[0] == "cf/wd/kept")
    sub.disconnect()


def session_expiry(port):
    c = subscriber(port, "cf-exp", "cf/exp/#", v5=True, clean=True, expiry=1)
    c.disconnect()
    # resumed before it expires: the same session
    c = Client(port, "cf-exp", v5=True)
    present, _ = c.connect(clean=False, expiry=1)
    check("session present on resume", present == 1)
    # a DISCONNECT that shortens the expiry to zero ends it now
    c.disconnect(expiry=0)
    c = connected(port, "cf-exp-wait", v5=True, expiry=1)
    c.disconnect()
    time.sleep(2.5)  # the broker's own expiry timer; no event to wait on
    c = Client(port, "cf-exp-wait", v5=True)
    present, _ = c.connect(clean=False, expiry=0)
    check("expired session is gone", present == 0)
    c.disconnect()


def takeover(port):
    a = subscriber(port, "cf-take", "cf/take")
    b = connected(port, "cf-take")
    check("first connection closed by takeover", a.closed_by_broker())
    a.sock.close()
    b.disconnect()
    # v5 takeover of a kept session
    a = connected(port, "cf-take5", v5=True, clean=False, expiry=30)
    b = Client(port, "cf-take5", v5=True)
    present, _ = b.connect(clean=False, expiry=0)
    check("taken-over v5 session present", present == 1)
    a.closed_by_broker()
    a.sock.close()
    b.disconnect()


def offline_queue(port):
    fresh(port, "cf-off")
    sub = subscriber(port, "cf-off", "cf/off/#", qos=2, clean=False)
    sub.disconnect()
    pub = connected(port, "cf-off-pub")
    for q in (1, 2, 1, 0):
        pub.publish("cf/off/q%d" % q, "queued %d" % q, qos=q)
    pub.disconnect()
    sub = Client(port, "cf-off")
    present, _ = sub.connect(clean=False)
    check("offline session present", present == 1)
    got = [sub.receive() for _ in range(3)]  # QoS 0 is not queued offline
    check("queued messages arrive", sorted(g[1] for g in got) ==
          ["queued 1", "queued 1", "queued 2"])
    sub.ping()
    sub.disconnect()
    # and the session is ended for good
    sub = connected(port, "cf-off", clean=True)
    sub.disconnect()


def redelivery(port):
    """QoS 1 and 2 messages sent but not acknowledged are sent again, DUP,
    when the session resumes: the same delivery, not a new one."""
    fresh(port, "cf-redo")
    sub = subscriber(port, "cf-redo", "cf/redo/#", qos=2, clean=False)
    pub = connected(port, "cf-redo-pub")
    pub.publish("cf/redo/1", "redo 1", qos=1)
    pub.publish("cf/redo/2", "redo 2", qos=2)
    first = [sub.receive(ack=False) for _ in range(2)]
    sub.drop()
    sub = connected(port, "cf-redo", clean=False)
    again = [sub.receive() for _ in range(2)]
    check("resends carry DUP", all(g[3] for g in again))
    check("resends are the same messages", sorted(g[1] for g in again) ==
          sorted(g[1] for g in first))
    sub.ping()
    sub.disconnect()
    pub.disconnect()
    sub = connected(port, "cf-redo", clean=True)
    sub.disconnect()


def client_resend(port):
    """A publisher resends a QoS 1 and a QoS 2 message with DUP before the
    broker's ack: one message each, not two."""
    sub = subscriber(port, "cf-dup-sub", "cf/dup/#", qos=2)
    pub = connected(port, "cf-dup-pub")
    m1 = pub.publish("cf/dup/1", "dup 1", qos=1, complete=False)
    pub.expect(PUBACK)
    pub.publish("cf/dup/1", "dup 1", qos=1, mid=m1, dup=True)  # a resend after the ack: new for QoS 1
    m2 = pub.publish("cf/dup/2", "dup 2", qos=2, complete=False)
    pub.expect(PUBREC)
    pub.publish("cf/dup/2", "dup 2", qos=2, mid=m2, dup=True, complete=False)
    pub.expect(PUBREC)
    pub.send(PUBREL, 2, struct.pack(">H", m2))
    pub.expect(PUBCOMP)
    got = sub.ping()
    got += sub.ping()
    check("QoS 2 resend is one message", [g[1] for g in got].count("dup 2") == 1)
    pub.disconnect()
    sub.disconnect()


def topic_alias(port):
    sub = subscriber(port, "cf-alias-sub", "cf/alias/#")
    pub = connected(port, "cf-alias-pub", v5=True)
    pub.publish("cf/alias/long/topic/name", "with alias", qos=1, alias=1)
    pub.publish("", "by alias", qos=1, alias=1)
    check("aliased publish arrives on its topic", sub.receive()[0] == "cf/alias/long/topic/name")
    check("alias-only publish arrives on its topic", sub.receive()[0] == "cf/alias/long/topic/name")
    pub.disconnect()
    sub.disconnect()


def flow_control(port):
    """Receive maximum 1: the broker holds all but one QoS 1 message until
    the previous one is acked."""
    sub = subscriber(port, "cf-flow", "cf/flow/#", qos=1, v5=True, receive_max=1)
    pub = connected(port, "cf-flow-pub")
    for i in range(4):
        pub.publish("cf/flow/%d" % i, "flow %d" % i, qos=1)
    got = [sub.receive() for _ in range(4)]
    check("all four arrive in order", [g[1] for g in got] == ["flow %d" % i for i in range(4)])
    pub.disconnect()
    sub.disconnect()


def flow_control_cut(port):
    """Receive maximum 1 and the subscriber leaves with messages still held:
    they are never sent."""
    sub = subscriber(port, "cf-flowcut", "cf/flowcut/#", qos=1, v5=True, receive_max=1)
    pub = connected(port, "cf-flowcut-pub")
    for i in range(3):
        pub.publish("cf/flowcut/%d" % i, "cut %d" % i, qos=1)
    sub.receive(ack=False)
    sub.disconnect()
    pub.disconnect()


def overlapping(port):
    sub = subscriber(port, "cf-overlap", "cf/over/#", "cf/over/+", qos=1)
    pub = connected(port, "cf-overlap-pub")
    pub.publish("cf/over/x", "overlap", qos=1)
    got = sub.ping() + sub.ping()
    check("overlapping subscriptions deliver 1 or 2 copies", 1 <= len(got) <= 2)
    pub.disconnect()
    sub.disconnect()


def dollar_topics(port):
    sub = subscriber(port, "cf-dollar", "$cf/#", qos=1)
    pub = connected(port, "cf-dollar-pub")
    pub.publish("$cf/x", "dollar", qos=1)
    check("$ topic arrives", sub.receive()[0] == "$cf/x")
    pub.disconnect()
    sub.disconnect()


def empty_client_id(port):
    c = Client(port, "")
    _, rc = c.connect(clean=True)
    check("zero-length id with clean session accepted", rc == 0)
    c.publish("cf/anon", "anonymous", qos=1)
    c.disconnect()
    c = Client(port, "", v5=True)
    _, rc = c.connect(clean=True)
    check("zero-length id accepted (v5)", rc == 0)
    c.disconnect()


def refused(port):
    c = Client(port, "cf-badproto")
    _, rc = c.connect(level=7)
    check("unknown protocol level refused (0x01)", rc == 1)
    c.closed_by_broker()
    c.sock.close()


SCENARIOS = [basic, retained, will, will_delay, session_expiry, takeover, offline_queue,
             redelivery, client_resend, topic_alias, flow_control, flow_control_cut,
             overlapping, dollar_topics, empty_client_id, refused]


def main():
    global HOST
    HOST, port = sys.argv[1], int(sys.argv[2])
    names = sys.argv[3:] or [s.__name__ for s in SCENARIOS]
    by_name = {s.__name__: s for s in SCENARIOS}
    failed = 0
    for name in names:
        try:
            by_name[name](port)
            print("scenario %s: done" % name, flush=True)
        except (ProtocolError, OSError) as e:
            failed += 1
            print("scenario %s: FAILED: %s" % (name, e), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
