// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prints "NAME VERIFIED_INSNS" for every loaded BPF program whose name
 * starts with "fs_" (flowsight's), for the tests/kernel guest: how close
 * each program is to the verifier's limit of 1,000,000 instructions on that
 * kernel.  bpftool 7.1 does not print the count.
 */
#include <bpf/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	__u32 id = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, "fs_", 3))
			printf("%s %u\n", info.name, info.verified_insns);
		close(fd);
	}
	return 0;
}
