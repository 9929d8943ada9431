// SPDX-License-Identifier: GPL-2.0
/* ksv-vsmmu: DMA with edu through the SMMU. */
#include "ksv-vsmmu.h"

int bar_write(struct vmm *m, uint64_t reg, uint64_t val)
{
	if (pwrite(m->dev, &val, 8, m->bar0 + reg) != 8) {
		say("step pwrite BAR0+%#llx failed: %s\n", (unsigned long long)reg,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int bar_read(struct vmm *m, uint64_t reg, uint64_t *val)
{
	if (pread(m->dev, val, 8, m->bar0 + reg) != 8) {
		say("step pread BAR0+%#llx failed: %s\n", (unsigned long long)reg, strerror(errno));
		return -1;
	}
	return 0;
}

int bus_master(struct vmm *m)
{
	uint16_t cmd;

	if (pread(m->dev, &cmd, 2, m->cfg + 4) != 2) {
		say("step pread PCI_COMMAND failed: %s\n", strerror(errno));
		return -1;
	}
	cmd |= 0x6;
	if (pwrite(m->dev, &cmd, 2, m->cfg + 4) != 2) {
		say("step pwrite PCI_COMMAND failed: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* One edu DMA; runs from a QEMU timer (~100 ms), poll until done. */
int edu_dma(struct vmm *m, uint64_t src, uint64_t dst, uint64_t cnt, int to_ram)
{
	uint64_t cmd = 0;

	if (bar_write(m, EDU_DMA_SRC, src) || bar_write(m, EDU_DMA_DST, dst) ||
	    bar_write(m, EDU_DMA_CNT, cnt) ||
	    bar_write(m, EDU_DMA_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0)))
		return -1;
	for (int i = 0; i < 2000; i++) {
		if (bar_read(m, EDU_DMA_CMD, &cmd))
			return -1;
		if (!(cmd & EDU_CMD_RUN))
			return 0;
		usleep(5000);
	}
	say("edu DMA did not complete within 10 s (cmd %#llx)\n", (unsigned long long)cmd);
	return -1;
}

uint8_t *at(struct vmm *m, uint64_t ipa)
{
	return (uint8_t *)m->vm.mem + (ipa - RAM_IPA);
}

void fill(uint8_t *p, unsigned int seed)
{
	for (unsigned int i = 0; i < PAGE; i++)
		p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 8));
}

/* RAM at @src -> device buffer -> RAM at @dst, one page. */
int dma_copy(struct vmm *m, uint64_t src, uint64_t dst)
{
	if (edu_dma(m, src, EDU_BUF, PAGE, 0))
		return -1;
	return edu_dma(m, EDU_BUF, dst, PAGE, 1);
}

/* A pattern at @src copied by the device to @dst: 0 if it arrived. */
int dma_check(struct vmm *m, uint64_t src, uint64_t dst, unsigned int seed, char *why,
		     size_t len)
{
	fill(at(m, src), seed);
	memset(at(m, dst), 0xee, PAGE);
	if (dma_copy(m, src, dst)) {
		snprintf(why, len, "edu DMA failed");
		return -1;
	}
	if (memcmp(at(m, src), at(m, dst), PAGE)) {
		snprintf(why, len, "pattern from IPA %#llx did not arrive at IPA %#llx",
			 (unsigned long long)src, (unsigned long long)dst);
		return -1;
	}
	snprintf(why, len, "%llu bytes IPA %#llx -> edu -> IPA %#llx", PAGE,
		 (unsigned long long)src, (unsigned long long)dst);
	return 0;
}
