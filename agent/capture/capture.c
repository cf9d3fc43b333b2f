// SPDX-License-Identifier: GPL-2.0-only
/*
 * Which live capture runs: --capture auto takes eBPF when this kernel,
 * these privileges, the interfaces and the options allow it, else libpcap,
 * and says which and why on one line.
 */
#include <errno.h>

#include "capture/capture.h"
#include "capture/ebpf_tc.h"
#include "capture/privs.h"
#include "util/log.h"

bool capture_ebpf_usable(const struct capture_env *env, char *why, size_t n)
{
	const struct fs_options *o = env->opts;

	if (o->bpf_filter) {
		snprintf(why, n, "--bpf-filter needs libpcap");
		return false;
	}
	for (size_t i = 0; i < o->n_interfaces; i++) {
		char cause[96];

		if (ebpf_capture_check_iface(o->interfaces[i], cause, sizeof(cause))) {
			snprintf(why, n, "'%s': %s", o->interfaces[i], cause);
			return false;
		}
	}
	return ebpf_capture_probe(why, n) == 0;
}

const struct capture_ops *capture_choose(const struct capture_env *env, bool need_every_packet,
					 bool *privs_fallback)
{
	char why[160] = "";

	switch (env->opts->capture) {
	case FS_CAPTURE_EBPF:
		return &capture_ebpf_ops;
	case FS_CAPTURE_PCAP:
		pr_info("capture: pcap (requested)\n");
		return &capture_pcap_ops;
	case FS_CAPTURE_AUTO:
		break;
	}
	if (need_every_packet) {
		pr_warn("capture: pcap (a plugin, --split-on-owner or --dataset-mode needs every "
			"packet; the eBPF capture samples the first ones)\n");
		return &capture_pcap_ops;
	}
	if (!caps_ebpf_allowed(why, sizeof(why))) {
		*privs_fallback = true;
		if (!caps_missing(caps_required(&(struct caps_mode){ .capture = CAPS_PCAP })))
			pr_warn("capture: pcap (%s)\n", why);
		return &capture_pcap_ops;
	}
	if (capture_ebpf_usable(env, why, sizeof(why))) {
		pr_warn("capture: ebpf%s%s%s\n", *why ? " (" : "", why, *why ? ")" : "");
		return &capture_ebpf_ops;
	}
	pr_warn("capture: pcap (ebpf unavailable: %s)\n", *why ? why : "unknown reason");
	return &capture_pcap_ops;
}

void capture_iface_changed(void *arg, size_t i, int old, int now)
{
	const struct capture_env *env = arg;
	const char *name = env->opts->interfaces[i];

	if (old && !now) {
		if (env->opts->wait_interface) {
			pr_warn("interface '%s' went away: its flows are exported; waiting for it "
				"to come back\n", name);
		} else {
			pr_warn("interface '%s' went away\n", name);
			session_fail(env->session, -ENODEV, "interface '%s' went away", name);
		}
	} else if (!old && now && env->opts->wait_interface) {
		pr_info("interface '%s' is there again (index %d)\n", name, now);
	}
}
