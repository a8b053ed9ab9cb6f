import { describe, expect, it } from 'vitest';

import {
  HPAGE_PMD_NR,
  MAP_GROWSDOWN,
  MAP_STACK,
  PMD_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_IO,
  VM_MIXEDMAP,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_READ,
  VM_SPECIAL,
  VM_WRITE,
  VM_DONTEXPAND,
  calcVmFlagBits,
  calcVmProtBits,
  taskSize,
} from '../../src/mm/constants.js';

describe('mm constants', () => {
  it('have the Linux geometry and ABI values', () => {
    expect(HPAGE_PMD_NR).toBe(512);
    expect(PMD_SIZE).toBe(2 * 1024 * 1024);
    expect(taskSize()).toBe(0x7ffffffff000);
    expect(VM_SPECIAL).toBe(VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP);
  });

  it('translate PROT_* and MAP_* to VM_* as calc_vm_prot_bits / calc_vm_flag_bits', () => {
    expect(calcVmProtBits(PROT_READ | PROT_WRITE)).toBe(VM_READ | VM_WRITE);
    expect(calcVmProtBits(PROT_EXEC)).toBe(VM_EXEC);
    expect(calcVmProtBits(0)).toBe(0);
    expect(calcVmFlagBits(MAP_GROWSDOWN | MAP_STACK)).toBe(VM_GROWSDOWN | VM_NOHUGEPAGE);
  });
});
