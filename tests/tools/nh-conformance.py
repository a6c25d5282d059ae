#!/usr/bin/env python3
"""Checks the webhook bodies nanohook posted against the broker's own
account of what it did, event by event.

  nh-conformance.py mosquitto LOG BODIES [ARRIVALS]
  nh-conformance.py nanomq OWN_BODIES BODIES

nanomq compares nanohook's bodies with those NanoMQ's own webhook posted
for the same rules, as multisets (ts aside; client_disconnected's reason
aside, since NanoMQ always says "normal"):

  missing: NanoMQ's webhook posted it, nanohook did not; none may be,
           except the second copy of a QoS 2 message NanoMQ took in twice
           (a DUP resend, which nanohook posts once)
  extra:   nanohook posted it, NanoMQ's webhook did not (NanoMQ's own
           webhook loses events under load); each is printed

LOG is Mosquitto's log with `log_type all`; BODIES the posted bodies, one
JSON object per line. For each invariant it prints one line

  invariant NAME: broker N, posted M  [ok | differ: what]

and exits 1 when any differs. With ARRIVALS (nh-sink --arrivals: the
wall-clock ms each body arrived), it also prints the capture -> endpoint
latency of the bodies that carry a "ts" (the message events):

  latency: N bodies, p50 X ms, p99 Y ms, max Z ms

The invariants, each per client id:

  connack       one client_connack per CONNACK the broker sent
  connected     one client_connected per accepted CONNACK (code 0)
  disconnected  one client_disconnected per accepted connection that ended
  publish       one message_publish per message the broker took in
                (QoS 2 resends of a message not yet released excluded,
                wills included: a will is a message the broker sends that
                no client published)
  delivered     one message_delivered per first send (d0) of a PUBLISH
  acked         one message_acked per PUBACK / PUBCOMP received
  terminated    one session_terminated per new session (CONNACK with
                session present 0): every session the script starts, it
                ends
"""

import collections
import json
import re
import sys

TS = r"^\d+: "


def mosquitto_account(log):
    acc = {k: collections.Counter() for k in
           ("connack", "connected", "disconnected", "publish", "delivered", "acked", "terminated")}
    pending_qos2 = set()  # (client, mid) received and not yet released
    received_topics = set()
    sends = []
    for line in log:
        line = line.rstrip("\n")
        m = re.match(TS + r"Sending CONNACK to (\S+) \((\d), (\d+)\)", line)
        if m:
            cid, present, code = m.group(1), int(m.group(2)), int(m.group(3))
            if re.match(r"\d+\.\d+\.\d+\.\d+$", cid):
                cid = ""  # refused before the client id was read
            acc["connack"][cid] += 1
            if code == 0:
                acc["connected"][cid] += 1
                if not present:
                    acc["terminated"][cid] += 1
            continue
        m = re.match(TS + r"(?:Client (\S+) (?:disconnected|closed its connection)"
                     r"|Socket error on client (\S+), disconnecting"
                     r"|Client (\S+) has exceeded timeout, disconnecting"
                     r"|Client (\S+) already connected, closing old connection)", line)
        if m:
            cid = next(g for g in m.groups() if g)
            if cid != "<unknown>" and "due to protocol error" not in line:
                acc["disconnected"][cid] += 1
            continue
        m = re.match(TS + r"Received PUBLISH from (\S+) \(d(\d), q(\d), r\d, m(\d+), '(.*)', \.\.\. ",
                     line)
        if m:
            cid, dup, qos, mid, topic = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)
            received_topics.add(topic)
            if qos == 2:
                if (cid, mid) in pending_qos2:
                    continue  # the same message again
                pending_qos2.add((cid, mid))
            acc["publish"][cid] += 1
            continue
        m = re.match(TS + r"Received PUBREL from (\S+) \(Mid: (\d+)\)", line)
        if m:
            pending_qos2.discard((m.group(1), m.group(2)))
            continue
        m = re.match(TS + r"Sending PUBLISH to (\S+) \(d(\d), q\d, r\d, m\d+, '(.*)', \.\.\. ", line)
        if m:
            sends.append(m.group(3))
            if m.group(2) == "0":
                acc["delivered"][m.group(1)] += 1
            continue
        m = re.match(TS + r"Received PUB(?:ACK|COMP) from (\S+) ", line)
        if m:
            acc["acked"][m.group(1)] += 1
    # wills: sent, never received from a client (each sent once here)
    for topic in sorted(set(sends) - received_topics):
        acc["publish"]["(will) " + topic] += 1
    return acc


def posted_account(bodies):
    acc = {k: collections.Counter() for k in
           ("connack", "connected", "disconnected", "publish", "delivered", "acked", "terminated")}
    action_of = {"client_connack": "connack", "client_connected": "connected",
                 "client_disconnected": "disconnected", "message_publish": "publish",
                 "message_delivered": "delivered", "message_acked": "acked",
                 "session_terminated": "terminated"}
    bad = total = 0
    for line in bodies:
        total += 1
        try:
            b = json.loads(line)
        except ValueError:
            bad += 1
            continue
        inv = action_of.get(b.get("action"))
        if not inv:
            continue
        if inv == "publish":
            cid = b.get("from_client_id", "")
            if b.get("topic", "").startswith(("cf/will/", "cf/wd/")):
                cid = "(will) " + b["topic"]
        else:
            cid = b.get("clientid", "")
        if cid.startswith("auto-"):  # the broker's name for a zero-length id
            cid = "auto-*"
        acc[inv][cid] += 1
    return acc, bad, total


def latency(bodies_path, arrivals_path):
    with open(bodies_path) as f, open(arrivals_path) as g:
        lat = sorted(int(a) - json.loads(b)["ts"] for b, a in zip(f, g)
                     if '"ts":' in b)
    if not lat:
        return "latency: no body with a ts"
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return "latency: %d bodies, p50 %d ms, p99 %d ms, max %d ms" % (
        len(lat), pick(0.5), pick(0.99), lat[-1])


def canonical_bodies(path):
    out = collections.Counter()
    with open(path) as f:
        for line in f:
            b = json.loads(line)
            b.pop("ts", None)
            if b.get("action") == "client_disconnected":
                b["reason"] = "*"
            out[json.dumps(b, sort_keys=True)] += 1
    return out


def compare_nanomq(own_path, nh_path):
    own, nh = canonical_bodies(own_path), canonical_bodies(nh_path)
    failed = 0
    missing = own - nh
    resends = {k: n for k, n in missing.items()
               if json.loads(k).get("qos") == 2 and nh[k] >= 1}
    for k, n in sorted(missing.items()):
        if k in resends:
            print("# QoS 2 resend NanoMQ posted again (nanohook once): %d x %s" % (n, k))
        else:
            print("# missing: %d x %s" % (n, k))
            failed += 1
    extra = nh - own
    for k, n in sorted(extra.items()):
        print("# extra: %d x %s" % (n, k))
    n_own, n_nh = sum(own.values()), sum(nh.values())
    print("compare missing: NanoMQ %d bodies, nanohook %d, %d missing  %s" %
          (n_own, n_nh, sum(missing.values()) - sum(resends.values()),
           "ok" if not failed else "differ"))
    n_extra = sum(extra.values())
    ok = n_extra * 20 <= max(n_own, 1)
    print("compare extra: %d bodies only nanohook posted (at most 5%% of %d)  %s" %
          (n_extra, n_own, "ok" if ok else "differ"))
    return 1 if failed or not ok else 0


def main():
    broker, log_path, bodies_path = sys.argv[1:4]
    if broker == "nanomq":
        return compare_nanomq(log_path, bodies_path)
    if broker != "mosquitto":
        print("nh-conformance: mosquitto or nanomq", file=sys.stderr)
        return 2
    with open(log_path, errors="replace") as f:
        want = mosquitto_account(f)
    for inv in want.values():
        for cid in [c for c in inv if c.startswith("auto-")]:
            inv["auto-*"] += inv.pop(cid)
    with open(bodies_path) as f:
        got, bad, total = posted_account(f)
    failed = 0
    print("invariant json: %d bodies, %d not JSON  %s" %
          (total, bad, "ok" if not bad else "differ"))
    failed += bad > 0
    for name in want:
        w, g = want[name], got[name]
        diff = ["%s: broker %d, posted %d" % (cid, w[cid], g[cid])
                for cid in sorted(set(w) | set(g)) if w[cid] != g[cid]]
        status = "ok" if not diff else "differ: " + "; ".join(diff)
        print("invariant %s: broker %d, posted %d  %s" %
              (name, sum(w.values()), sum(g.values()), status))
        failed += bool(diff)
    if len(sys.argv) > 4:
        print(latency(bodies_path, sys.argv[4]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
