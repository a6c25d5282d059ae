/* SPDX-License-Identifier: MIT */
/*
 * Mosquitto 2.0.x values that both sides of its probes rely on: the probes
 * (bpf/mosquitto.bpf.c) test them in broker memory, the decoder
 * (user/broker_mosquitto.c) reads them back from records. One definition,
 * so the two can never disagree.
 *
 * What Mosquitto's records carry in the record's broker fields:
 *   disconnected        broker_reason: do_disconnect's reason (MOSQ_ERR_*)
 *                       broker_state:  the context's state then
 *   session_terminated  broker_reason: enum mosq_term_reason
 *                       broker_state:  the context's state then
 *   connack             broker_reason: the CONNACK's acknowledge flags
 *                       (MOSQ_CONNACK_SESSION_PRESENT)
 */
#ifndef NH_MOSQ_H
#define NH_MOSQ_H

/* enum mosquitto_client_state (stable across 2.0.x) */
enum mosq_client_state {
	MOSQ_CS_NEW = 0,
	MOSQ_CS_DISCONNECTING = 2,
	MOSQ_CS_ACTIVE = 3,
	MOSQ_CS_DISCONNECTED = 7,
	MOSQ_CS_DUPLICATE = 17,          /* taken over by a new connection */
	MOSQ_CS_DISCONNECT_WITH_WILL = 18,
	MOSQ_CS_AUTHENTICATING = 20,     /* MQTT 5 AUTH exchange before the CONNACK */
	MOSQ_CS_REAUTHENTICATING = 21,
};

/* CONNACK acknowledge flags: the session a client asked to resume was
 * there, and is handed to this connection */
#define MOSQ_CONNACK_SESSION_PRESENT 0x01

/* enum mosquitto_msg_origin: mosq_mo_client */
#define MOSQ_MO_CLIENT 0
/* enum mosquitto_msg_direction: mosq_md_out */
#define MOSQ_MD_OUT 1

/* broker_reason of a session_terminated record: why the session ended. */
enum mosq_term_reason {
	MOSQ_TERM_DISCONNECT = 0, /* with its connection (clean session) */
	MOSQ_TERM_EXPIRED = 1,    /* a kept session expired later */
};

#endif
