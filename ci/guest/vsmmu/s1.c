// SPDX-License-Identifier: GPL-2.0
/*
 * ksv-vsmmu: the guest's stage 1, as a VMM would find it in guest memory:
 * a context descriptor (CD) and stage-1 page tables that the guest owns,
 * and the guest programs that change a PTE or invalidate it with TLBI.
 *
 * The layout is fixed (all IPAs inside the VM's RAM, all IOVAs below edu's
 * 28-bit DMA mask): 4 KiB granule, T0SZ 25 (39-bit VA, walks start at
 * level 1), one L1, L2 and L3 table. S1_VA_DST and S1_VA_SRC are the two
 * VAs the device uses; the L3 entry of S1_VA_DST is the one the guest
 * moves between S1_OLD and S1_NEW.
 */
#include "ksv-vsmmu.h"

/* Descriptor bits (VMSAv8-64) */
#define DESC_VALID_TABLE 0x3ULL		/* valid, table (L1/L2) or page (L3) */
#define PTE_AP_RW_EL0 (1ULL << 6)	/* AP[2:1] = 01: read/write */
#define PTE_SH_IS (3ULL << 8)
#define PTE_AF (1ULL << 10)
#define PTE_NG (1ULL << 11)		/* tagged with the ASID */

/* CD fields (SMMUv3 CD[0], CD[1], CD[3]) */
#define CD0_T0SZ(x) ((uint64_t)(x))
#define CD0_IRGN0_WBWA (1ULL << 8)
#define CD0_ORGN0_WBWA (1ULL << 10)
#define CD0_SH0_IS (3ULL << 12)
#define CD0_EPD1 (1ULL << 30)
#define CD0_V (1ULL << 31)
#define CD0_IPS_48 (5ULL << 32)
#define CD0_AFFD (1ULL << 35)
#define CD0_AA64 (1ULL << 41)
#define CD0_R (1ULL << 45)
#define CD0_A (1ULL << 46)
#define CD0_ASID(x) ((uint64_t)(x) << 48)

uint64_t s1_pte(uint64_t ipa)
{
	return ipa | DESC_VALID_TABLE | PTE_AP_RW_EL0 | PTE_SH_IS | PTE_AF | PTE_NG;
}

static uint64_t *table(struct vm *v, uint64_t ipa)
{
	return (uint64_t *)((uint8_t *)v->mem + (ipa - v->ipa));
}

uint64_t s1_pte_ipa(uint64_t va)
{
	return S1_L3 + ((va >> 12) & 0x1ff) * 8;
}

void s1_build(struct vm *v)
{
	uint64_t *cd = table(v, S1_CD);

	memset(table(v, S1_L1), 0, PAGE);
	memset(table(v, S1_L2), 0, PAGE);
	memset(table(v, S1_L3), 0, PAGE);
	memset(cd, 0, 64);
	table(v, S1_L1)[(S1_VA_DST >> 30) & 0x1ff] = S1_L2 | DESC_VALID_TABLE;
	table(v, S1_L2)[(S1_VA_DST >> 21) & 0x1ff] = S1_L3 | DESC_VALID_TABLE;
	table(v, S1_L3)[(S1_VA_DST >> 12) & 0x1ff] = s1_pte(S1_OLD);
	table(v, S1_L3)[(S1_VA_SRC >> 12) & 0x1ff] = s1_pte(S1_SRC);
	cd[0] = CD0_T0SZ(25) | CD0_IRGN0_WBWA | CD0_ORGN0_WBWA | CD0_SH0_IS | CD0_EPD1 | CD0_V |
		CD0_IPS_48 | CD0_AFFD | CD0_AA64 | CD0_R | CD0_A | CD0_ASID(S1_ASID);
	cd[1] = S1_L1;		/* TTB0 */
	cd[3] = 0xff;		/* MAIR: attr 0 normal write-back */
}

/*
 * Guest programs, at S1_CODE in the VM's RAM. Registers: x1 = MMIO_EXIT,
 * x2 = a PTE, x3 = its IPA, x4 = the operand of the TLBIs by VA or ASID
 * (S1_ASID in bits 63:48, the VA's page number below). Each ends with an
 * MMIO exit (str x0, [x1]). The guest runs at EL1 with its MMU off.
 */
#define STR_X2_X3 0xf9000062		/* str x2, [x3] */
#define LDR_X0_X3 0xf9400060		/* ldr x0, [x3] */
#define DSB_ISHST 0xd5033a9f
#define DSB_ISH 0xd5033b9f
/* TLBI <op>: SYS #0, C8, C3, #op2, x4 (0xd5088300 | op2 << 5 | Rt) */
#define TLBI_VMALLE1IS 0xd508831f
#define TLBI_VAE1IS_X4 0xd5088324
#define TLBI_ASIDE1IS_X4 0xd5088344
#define TLBI_VAAE1IS_X4 0xd5088364
#define TLBI_VALE1IS_X4 0xd50883a4
#define TLBI_VAALE1IS_X4 0xd50883e4
#define NOP 0xd503201f
#define EXIT 0xf9000020			/* str x0, [x1] */
#define MOV_X5_LOOPS (0xd2800005 | (S1_LOOPS << 5))	/* mov x5, #S1_LOOPS */
#define SUBS_X5 0xf10004a5		/* subs x5, x5, #1 */
#define BNE_BACK3 0x54ffffa1		/* b.ne to 3 instructions back */
#define LOOP 0x14000000			/* b . */

/* Each starts with a NOP (vm_exec()). */
static const uint32_t programs[][12] = {
	[S1_SET_PTE] = { NOP, STR_X2_X3, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_VA] = { NOP, TLBI_VAE1IS_X4, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_VAL] = { NOP, TLBI_VALE1IS_X4, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_VAA] = { NOP, TLBI_VAAE1IS_X4, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_VAAL] = { NOP, TLBI_VAALE1IS_X4, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_ASID] = { NOP, TLBI_ASIDE1IS_X4, DSB_ISH, EXIT, LOOP },
	[S1_VMALL] = { NOP, TLBI_VMALLE1IS, DSB_ISH, EXIT, LOOP },
	[S1_TLBI_EACH] = { NOP, TLBI_VAE1IS_X4, TLBI_VALE1IS_X4, TLBI_VAAE1IS_X4, TLBI_VAALE1IS_X4,
			   TLBI_ASIDE1IS_X4, TLBI_VMALLE1IS, DSB_ISH, EXIT, LOOP },
	[S1_LOAD] = { NOP, LDR_X0_X3, EXIT, LOOP },
	[S1_EXIT] = { NOP, NOP, NOP, NOP, NOP, EXIT, LOOP },
	/* S1_LOOPS invalidations, and the same loop without them (make bench) */
	[S1_TLBI_LOOP] = { NOP, MOV_X5_LOOPS, TLBI_VAE1IS_X4, DSB_ISH, SUBS_X5, BNE_BACK3, EXIT, LOOP },
	[S1_NOP_LOOP] = { NOP, MOV_X5_LOOPS, NOP, NOP, SUBS_X5, BNE_BACK3, EXIT, LOOP },
};

static int run_at(struct vm *v, enum s1_prog prog, uint64_t pte, uint64_t ipa, uint64_t tlbi_op)
{
	uint64_t x[5] = { 0, MMIO_EXIT, pte, ipa, tlbi_op };
	uint64_t code = v->ipa + v->size - PAGE;	/* the VM's last page */

	memcpy(table(v, code), programs[prog], sizeof(programs[prog]));
	return vm_exec(v, code, x);
}

static int s1_run(struct vm *v, enum s1_prog prog, uint64_t pte, uint64_t tlbi_op)
{
	return run_at(v, prog, pte, s1_pte_ipa(S1_VA_DST), tlbi_op);
}

/* @v's vCPU loads from @ipa: KVM maps it in the VM's stage 2. */
int guest_load(struct vm *v, uint64_t ipa)
{
	return run_at(v, S1_LOAD, 0, ipa, 0);
}

/* Runs @prog on @v's vCPU: @pte goes to the L3 entry of S1_VA_DST. */
int s1_guest(struct vm *v, enum s1_prog prog, uint64_t pte)
{
	return s1_run(v, prog, pte, ((uint64_t)S1_ASID << 48) | (S1_VA_DST >> 12));
}

/* @v's vCPU runs TLBI VAE1IS with the operand @op (and DSB ISH). */
int guest_tlbi_va(struct vm *v, uint64_t op)
{
	return s1_run(v, S1_TLBI_VA, 0, op);
}
