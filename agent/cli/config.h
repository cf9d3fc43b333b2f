/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * struct fc_config: every tunable of the agent and its defaults, filled by
 * cli_parse().  The defaults are NFStream 6.5.4's (spec §2).  This is the
 * only home of tunables: modules receive the part they need in their opts.
 */
#ifndef FLOWSIGHT_CONFIG_H
#define FLOWSIGHT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "export/export.h"

#define FC_MAX_SOURCES 256
#define FC_MAX_ANON 64

/* --capture: how live packets reach the meters. */
enum capture_mode {
	CAPTURE_AUTO, /* eBPF when usable, else libpcap */
	CAPTURE_EBPF,
	CAPTURE_PCAP,
};

struct fc_config {
	const char *files[FC_MAX_SOURCES]; /* -r, read in order as one stream */
	int n_files;
	const char *ifaces[FC_MAX_SOURCES]; /* -i */
	int n_ifaces;
	const char *output;                 /* -o, NULL = stdout */
	enum export_format format;          /* -F */
	bool decode_tunnels;
	const char *bpf_filter;
	uint64_t snapshot_length;
	bool promiscuous_mode;
	uint64_t socket_buffer_size;        /* 0: libpcap's default */
	enum capture_mode capture;
	uint64_t n_meters;                  /* live: resolved by cli_parse, >= 1 */
	uint64_t performance_report_s;      /* live: 0 off */
	uint64_t ebpf_map_entries;          /* --capture ebpf: flow map size, 0 default */
	uint64_t idle_timeout_s;
	uint64_t active_timeout_s;
	uint64_t accounting_mode;
	uint64_t n_dissections;
	bool statistical_analysis;
	uint64_t splt_analysis;
	uint64_t max_nflows;
	uint64_t max_flows_in_memory;
	uint64_t system_visibility_mode;
	bool system_visibility_all_netns; /* --system-visibility-netns all */
	uint64_t flows_per_file;
	uint64_t rotate_files;
	const char *anon_cols[FC_MAX_ANON]; /* --columns-to-anonymize */
	int n_anon_cols;
	bool ja4;
	int verbose;
};

void config_defaults(struct fc_config *c);

#endif
