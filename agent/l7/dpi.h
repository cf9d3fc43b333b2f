/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * L7 visibility through Debian's libndpi (4.2): one detection module per
 * meter and NFStream's dissection procedure per flow (spec §1.4): first
 * packet always fed, feed while unknown or extra dissection is possible,
 * give up with guessing at n_dissections packets or at expiry.  The
 * ndpi_flow_struct is freed the moment detection completes; only the nine
 * exported L7 values (struct dpi_result) stay with the flow.
 */
#ifndef FLOWSIGHT_DPI_H
#define FLOWSIGHT_DPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet/decode.h"

struct ndpi_flow_struct;
struct dpi;
struct dpi_hello;

/* The nine L7 columns, as NFStream writes them (strings are UTF-8 clean). */
struct dpi_result {
	uint8_t is_guessed;
	uint8_t confidence;       /* nDPI 4.2 numbering, see README */
	const char *application_name;
	const char *category_name;
	const char *requested_server_name;
	const char *client_fingerprint;
	const char *server_fingerprint;
	const char *user_agent;
	const char *content_type;
	const char *ja4;          /* JA4 client fingerprint, "" if none */
	char strings[];           /* storage for the strings above */
};

/* Per-flow dissection state, embedded in struct flow. */
struct dpi_flow {
	struct ndpi_flow_struct *nf; /* live only while dissecting */
	struct dpi_result *res;      /* set once the result is collected */
	uint16_t master_proto, app_proto;
	uint16_t category;
	uint8_t guessed;
	uint8_t completed;
	uint8_t ja4_done;     /* JA4 found, or given up for this flow */
	char *ja4;            /* JA4 of the first ClientHello, while dissecting */
	struct dpi_hello *hello; /* ClientHello spanning several segments */
};

struct dpi_opts {
	uint8_t n_dissections; /* 1..255 */
	bool ja4;              /* compute the JA4 client fingerprint */
};

/* Create the detection module.  0, or -errno with a logged reason. */
int dpi_new(const struct dpi_opts *opts, struct dpi **out);
void dpi_free(struct dpi *d);

/*
 * Packet number @flow_packets (1-based, counting this packet) of a flow.
 * nDPI gets @p->ip (innermost IP header, @p->ip_caplen bytes) at @p->time_ms.
 */
void dpi_flow_packet(struct dpi *d, struct dpi_flow *f, const struct pkt *p,
		     uint64_t flow_packets);

/* At expiry: give up if still unknown, collect the result, free nDPI state. */
void dpi_flow_finish(struct dpi *d, struct dpi_flow *f);

/*
 * The application name found so far for a live flow (nDPI's name, e.g.
 * "TLS.YouTube"), "" while nothing is known.  On the flow's meter thread.
 */
void dpi_flow_app_name(struct dpi *d, const struct dpi_flow *f, char *buf, size_t n);

/* Free everything the flow's DPI state holds. */
void dpi_flow_release(struct dpi_flow *f);

/* Bytes of the ndpi_flow_struct allocated while a flow is being dissected. */
size_t dpi_flow_struct_bytes(void);

/*
 * Copy at most @max bytes of @src into @dst (size >= max + 1), then drop
 * invalid UTF-8 as Python's bytes.decode("utf-8", "ignore") does.
 * Returns the resulting length.
 */
size_t dpi_utf8_clean(char *dst, const char *src, size_t max);

#endif
