/* SPDX-License-Identifier: GPL-2.0 */
/*
 * End-to-end test of a vSMMU, guest side: a tiny VMM that gives QEMU's
 * edu device (PCI 1234:11e8, behind the emulated nested SMMUv3) to a VM
 * through VFIO cdev + iommufd, with an iommufd vIOMMU, and checks DMA,
 * VMIDs, invalidation, broadcast TLB maintenance and object lifetimes.
 *
 *   ksv-vsmmu --expect kvm|upstream [--rollovers N] [--btm yes|no]
 *   ksv-vsmmu --force-rollovers N [--mark] (only that: for the real VMM's
 *     boot and the random sequences' soak)
 *   ksv-vsmmu --expect kvm|upstream --fail-nth | --fail-nth-insmod KO |
 *     --fail-nth-probe arm_smmu_v3.ko
 *   ksv-vsmmu --expect kvm|upstream --random SEED --steps N [--procs P]
 *   ksv-vsmmu --expect kvm --reserve-rollover [--migrate-faults N] | --bench
 *   ksv-vsmmu --expect upstream --vm-file series|pristine [--migrate-faults N]
 *
 * --expect kvm: our modules are loaded and use BTM, so a vSMMU must use
 * its VM's pinned KVM VMID. --expect upstream: the vSMMU uses its stage-2
 * parent's VMID and nothing is pinned. --btm: the guest-stage-1 test of
 * btm.c, expecting that the guest's TLBIs reach the SMMU (yes) or not.
 *
 * One file per concern: common.c (globals, checks, ioctls), state.c (the
 * modules' debugfs views), vm.c (KVM VMs and guest code), iommufd.c (edu,
 * VFIO and the iommufd objects), dma.c (edu DMA), s1.c (the guest's stage
 * 1), btm.c (the BTM checks and bench), failnth.c and probe.c (fault
 * injection), random.c (random sequences), migrate.c (a vCPU thread moved
 * inside its stage-2 fault), vmfile.c (closing the VM fd with a device
 * open) and checks.c (the others, main()).
 *
 * Every line starts with "KSV: e2e: "; each check prints one
 * "CHECK <name> ok|FAIL <details>" line. Around each DMA whose SMMU VMID
 * the host checks in QEMU's trace: "DMA-BEGIN <label> expect-vmid=<N or
 * upstream>" and "DMA-END <label>".
 */
#ifndef KSV_VSMMU_H
#define KSV_VSMMU_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/iommufd.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ksv-util.h"

#define PIN_STATE "/sys/kernel/debug/kvm_vmid_pin/state"
#define BTM_STATE "/sys/kernel/debug/smmu_v3_btm/state"
#define CANWBS_KO "/lib/modules/ksv/test/ksv_canwbs.ko"
#define BTM_KO "/lib/modules/ksv/smmu_v3_btm.ko"

#define say(...) (printf("KSV: e2e: " __VA_ARGS__), fflush(stdout))

/*
 * Guest physical layout of the test VM. IOVA = IPA. The last page is
 * left out of the main IOAS area: the unmap test maps it on its own
 * (iommufd does not split an area at unmap).
 */
#define RAM_IPA 0x400000ULL
#define RAM_SIZE 0x40000ULL
#define PAGE 0x1000ULL
#define MAIN_LEN (RAM_SIZE - PAGE)
#define EXTRA_IPA (RAM_IPA + MAIN_LEN)
#define MMIO_EXIT 0x100000ULL
/*
 * Pages of the VM's RAM used by DMA: each DMA checked against QEMU's
 * trace uses pages no DMA touched before, so the SMMU's IOTLB misses.
 */
#define PG(n) (RAM_IPA + (n) * PAGE)
#define VIRT_SID 0x10

/* The guest's stage 1 (s1.c): tables and CD in the VM's RAM, two VAs. */
#define S1_CD PG(40)
#define S1_L1 PG(41)
#define S1_L2 PG(42)
#define S1_L3 PG(43)
#define S1_SRC PG(44)		/* S1_VA_SRC maps it: the pattern's source */
#define S1_OLD PG(45)		/* S1_VA_DST maps it first */
#define S1_NEW PG(46)		/* ... and after the guest moves its PTE */
#define S1_VA_DST 0x1000000ULL
#define S1_VA_SRC (S1_VA_DST + PAGE)
#define S1_ASID 0x42
#define S1_LOOPS 1000
/* Pages of the stage-2 BTM checks (btm.c): IOVA = IPA, bypass vSTE. */
#define S2_SRC PG(51)
#define S2_DST PG(50)

/* Guest programs (s1.c); each TLBI is followed by DSB ISH. */
enum s1_prog {
	S1_SET_PTE,		/* the PTE moved, no TLBI */
	S1_TLBI_VA,		/* TLBI VAE1IS, S1_ASID and S1_VA_DST */
	S1_TLBI_VAL,		/* TLBI VALE1IS, the same */
	S1_TLBI_VAA,		/* TLBI VAAE1IS, S1_VA_DST in any ASID */
	S1_TLBI_VAAL,		/* TLBI VAALE1IS, the same */
	S1_TLBI_ASID,		/* TLBI ASIDE1IS, S1_ASID */
	S1_VMALL,		/* TLBI VMALLE1IS */
	S1_TLBI_EACH,		/* each of the six above */
	S1_LOAD,		/* a load from the IPA in x3 (guest_load()) */
	S1_EXIT,
	S1_TLBI_LOOP, S1_NOP_LOOP,
};

/* edu: BAR0 registers and its DMA buffer (device side). */
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_CMD_RUN 0x1
#define EDU_CMD_TO_RAM 0x2
#define EDU_BUF 0x40000ULL

struct pins {
	int present;
	long pinned, rollovers;
	int n;
	int vmid[1024];
};

/* smmu_v3_btm: one "vsmmu <key>: vmid <N> ... (vm <name>)" line per vSMMU. */
struct vsmmus {
	int present, n;
	char key[64][64];
	char vm[64][32];	/* KVM's name of the VM: "<pid>-<VM fd>" */
	int vmid[64];
};

/* Everything the lifetime checks compare. */
struct snap {
	long pinned, vsmmus, refs[2];
};

struct vm {
	int vm, vcpu;
	void *mem;
	size_t size;
	uint64_t ipa;
	struct kvm_run *run;
};

struct vmm {
	struct vm vm;
	int has_vm, kvfio, dev, iommufd;
	uint32_t dev_id, ioas, parent, viommu, vdev, nested;
	uint64_t bar0, cfg;
	int attached, viommu_btm;
};


/* An ioctl that must succeed: a failure names it and says why. */
#define IOC(fd, req, arg) xioctl(fd, req, arg, #req)

extern const char *const modnames[2];
extern int kvm_fd, run_size, expect_kvm, failures;
extern char bdf[300], cdev_path[300];

/* The edu devices (edu_prepare()), one per VMM process of --procs. */
#define MAX_EDU 4
struct edu {
	char bdf[32], cdev[300];
};
extern struct edu edus[MAX_EDU];
extern int n_edu;
extern struct timespec t_start;

void read_pins(struct pins *p);
int pins_has(const struct pins *p, int vmid);
int pins_new(const struct pins *before, const struct pins *after, int *count);
void pins_str(const struct pins *p, char *buf, size_t len);
void read_vsmmus(struct vsmmus *v);
int vsmmu_new(const struct vsmmus *before, const struct vsmmus *after, int *count);
long refcnt(const char *mod);
long debugfs_value(const char *path, const char *key);
void take_snap(struct snap *s);
int snap_eq(const struct snap *a, const struct snap *b);
void snap_str(const struct snap *s, char *buf, size_t len);
int smmu_events(void);
int klog_count(const char *needle);
void test_migrate_faults(int vms);
void vm_close(struct vm *v);
void vm_free_mem(struct vm *v);
int vm_exec(struct vm *v, uint64_t pc, const uint64_t x[5]);
int vm_run(struct vm *v);
int vm_open(struct vm *v, uint64_t ipa, size_t size);
int read_id(const char *bdfname, const char *what, char *out, size_t len);
int edu_prepare(void);
void canwbs(void);
void vmm_init(struct vmm *m);
void vmm_close(struct vmm *m);
int vmm_vm(struct vmm *m);
int vmm_kvfio(struct vmm *m);
int vmm_open_dev(struct vmm *m);
int vmm_bind(struct vmm *m);
int hw_cap_btm(struct vmm *m);
int ioas_map(struct vmm *m, uint64_t ipa, uint64_t len);
int vmm_ioas(struct vmm *m, int map);
int parent_alloc(struct vmm *m, uint32_t *id);
int viommu_alloc_data(struct vmm *m, uint32_t parent, uint32_t *id,
		      struct iommu_viommu_arm_smmuv3 *data);
int viommu_alloc(struct vmm *m, uint32_t parent, uint32_t *id);
int vmm_inv_va(struct vmm *m, uint16_t asid, uint64_t va);
int vmm_vdev(struct vmm *m);
int vmm_nested(struct vmm *m);
int vmm_nested_cd(struct vmm *m, uint64_t cd);
int vmm_attach(struct vmm *m, uint32_t pt);
int vmm_detach(struct vmm *m);
int destroy(struct vmm *m, uint32_t id, const char *what);
int vmm_teardown_viommu(struct vmm *m);
int vmm_base(struct vmm *m, int with_vm);
int vmm_nest(struct vmm *m);
const char *expect_str(int vmid);
int bar_write(struct vmm *m, uint64_t reg, uint64_t val);
int bar_read(struct vmm *m, uint64_t reg, uint64_t *val);
int bus_master(struct vmm *m);
int edu_dma(struct vmm *m, uint64_t src, uint64_t dst, uint64_t cnt, int to_ram);
uint8_t *at(struct vmm *m, uint64_t ipa);
void fill(uint8_t *p, unsigned int seed);
int dma_copy(struct vmm *m, uint64_t src, uint64_t dst);
int dma_check(struct vmm *m, uint64_t src, uint64_t dst, unsigned int seed, char *why,
		     size_t len);
void test_main(void);
void test_vm_file(void);
extern int vm_file_pristine;
void test_no_vm(void);
void test_viommu_flags(void);
void test_bad_vmid(void);
void test_second_parent(void);
void test_wrong_order(void);
void test_unbind_first(void);
void killed_child(int wfd);
void test_killed_vmm(void);
void test_reserve_rollover(void);
void usage(void);
double now_s(void);
void check(const char *name, int ok, const char *fmt, ...);
const char *errname(int e);
int xioctl(int fd, unsigned long req, void *arg, const char *name);

/* btm.c */
extern int btm_expected;
void test_btm(void);
void bench_btm(void);
int force_rollovers(int n, int mark, char *why, size_t len);

/* random.c */
void test_random(unsigned long seed, int steps, int procs);
uint64_t tlbi_mark(unsigned int serial, int vmid);

/* failnth.c */
#define NTH_MAX 3000
/* What a failed call must leave as it was. */
struct fstate {
	struct snap s;
	int vms, fds, smmus;
};
void fstate_take(struct fstate *f);
int fstate_eq(const struct fstate *a, const struct fstate *b);
void fstate_str(const struct fstate *f, char *buf, size_t len);
int nth_setup(void);
void nth_arm(int n);
int nth_hit(void);
void test_fail_nth(void);
void test_fail_nth_insmod(const char *ko);

/* probe.c */
void test_fail_nth_probe(const char *ko);

/* s1.c */
uint64_t s1_pte(uint64_t ipa);
uint64_t s1_pte_ipa(uint64_t va);
void s1_build(struct vm *v);
int s1_guest(struct vm *v, enum s1_prog prog, uint64_t pte);
int guest_tlbi_va(struct vm *v, uint64_t op);
int guest_load(struct vm *v, uint64_t ipa);

#endif
