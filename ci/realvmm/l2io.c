// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-l2io: the program of the real VMM's guest (ci/realvmm/). It runs in
 * Debian's cloud kernel under Debian's QEMU 11.1 with an accelerated
 * vSMMU, and makes the assigned NVMe controller do DMA through the
 * guest's own stage 1: the guest's nvme driver maps each buffer with the
 * DMA API (the guest's arm-smmu-v3 driver writes the CD and page tables,
 * strict mode invalidates at every unmap), and the host's stage 2 (the
 * VM's pinned VMID) applies under them. O_DIRECT takes the page cache out:
 * every read and write is a device DMA to or from this program's buffer.
 *
 * The disk (ci/realvmm/initramfs.sh) holds BLOCKS blocks of 4 KiB; block
 * i holds fill(i). Usage: ksv-l2io DEVICE. Commands, one per line on stdin,
 * from the host's script (ci/realvmm/host.sh) through the serial console:
 *   read-all   every block read by the device into one buffer: each
 *              must hold its pattern
 *   dma SEED   fill(SEED) written to block SEED % BLOCKS and read back
 *              into another buffer
 *   loop       dma until killed (the host SIGKILLs QEMU)
 *   bench N    N reads of one block, timed with CLOCK_MONOTONIC (under
 *              the outer QEMU's -icount shift=0, 1 ns is 1 instruction)
 *   quit       exit
 * Every answer is one line "L2: <command> ok|FAIL <detail>"; "L2: READY"
 * asks for the next command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096UL
#define BLOCKS 256

static int fd;
static uint8_t *buf, *back; /* page-aligned (mmap), as O_DIRECT needs */

/* The pattern of the disk's block @seed; the same in initramfs.sh. */
static void fill(uint8_t *p, unsigned int seed)
{
	for (unsigned int i = 0; i < BLK; i++)
		p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 8) + 1);
}

static int io(int wr, uint8_t *p, unsigned int blk)
{
	ssize_t n = wr ? pwrite(fd, p, BLK, blk * BLK) : pread(fd, p, BLK, blk * BLK);

	return n == (ssize_t)BLK ? 0 : -1;
}

static void read_all(void)
{
	uint8_t want[BLK];

	for (unsigned int b = 0; b < BLOCKS; b++) {
		memset(buf, 0xee, BLK);
		fill(want, b);
		if (io(0, buf, b) || memcmp(buf, want, BLK)) {
			printf("L2: read-all FAIL block %u: %s\n", b,
			       errno ? strerror(errno) : "not its pattern");
			return;
		}
	}
	printf("L2: read-all ok %d blocks of %lu bytes, each with its pattern\n", BLOCKS, BLK);
}

static int dma(unsigned int seed)
{
	unsigned int b = seed % BLOCKS;

	fill(buf, seed);
	memset(back, 0xee, BLK);
	if (io(1, buf, b) || io(0, back, b)) {
		printf("L2: dma FAIL seed %u block %u: %s\n", seed, b, strerror(errno));
		return -1;
	}
	if (memcmp(buf, back, BLK)) {
		printf("L2: dma FAIL seed %u block %u: read back other data\n", seed, b);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char line[128];
	unsigned int seed;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2)
		return 2;
	fd = open(argv[1], O_RDWR | O_DIRECT | O_SYNC);
	buf = mmap(NULL, 2 * BLK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || buf == MAP_FAILED) {
		printf("L2: setup FAIL %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	back = buf + BLK;
	printf("L2: setup ok %s opened O_DIRECT\n", argv[1]);
	for (;;) {
		printf("L2: READY\n");
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		errno = 0;
		if (!strncmp(line, "read-all", 8)) {
			read_all();
		} else if (sscanf(line, "dma %u", &seed) == 1) {
			if (!dma(seed))
				printf("L2: dma ok seed %u: block %u written from one buffer and read back into another\n",
				       seed, seed % BLOCKS);
		} else if (sscanf(line, "bench %u", &seed) == 1 && seed) {
			struct timespec t0, t1;
			long long ns;
			unsigned int i;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (i = 0; i < seed && !io(0, buf, i % BLOCKS); i++)
				;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + t1.tv_nsec - t0.tv_nsec;
			if (i < seed)
				printf("L2: bench FAIL read %u: %s\n", i, strerror(errno));
			else
				printf("L2: bench ok %u reads of %lu bytes: %lld ns, %lld ns each\n", seed,
				       BLK, ns, ns / seed);
		} else if (!strncmp(line, "loop", 4)) {
			for (unsigned int i = 1; !dma(1000 + i); i++)
				if (i % 20 == 0)
					printf("L2: loop %u DMAs\n", i);
		} else if (!strncmp(line, "quit", 4)) {
			printf("L2: quit ok\n");
			return 0;
		} else {
			printf("L2: unknown command: %s", line);
		}
	}
}
