/**
 * The hmm_range.hmm_pfns entry encoding (include/linux/hmm.h): request flags on input, pfn, output
 * flags and the CPU mapping order on output.
 *
 * Deviation: the kernel packs flags into the top bits of an unsigned long (VALID = bit 63, order at
 * bits 53..57). JavaScript numbers hold 53-bit integers exactly, so the model keeps the flags in the
 * low bits and the pfn above them: entry = pfn * 2^16 + order << 6 + flags. The encoding is internal;
 * read entries only with {@link hmmPfnFlags}, {@link hmmPfnToPfn} and {@link hmmPfnToMapOrder}, and
 * write inputs as a bitwise OR of HMM_PFN_REQ_* (an entry holding only flags has pfn 0).
 */

/** Output: the pfn is valid and the page is at least readable by the CPU. */
export const HMM_PFN_VALID = 1 << 0;
/** Output: the CPU mapping is writable (only with VALID). */
export const HMM_PFN_WRITE = 1 << 1;
/** Output: the device must not access this page (no VMA, unsupported VMA, special page). */
export const HMM_PFN_ERROR = 1 << 2;
/** Sticky: the driver's marker that the page is DMA-mapped; kept from input to output. */
export const HMM_PFN_DMA_MAPPED = 1 << 3;
/** Sticky: a PCI P2P page mapped through the host bridge. */
export const HMM_PFN_P2PDMA = 1 << 4;
/** Sticky: a PCI P2P page mapped by bus address. */
export const HMM_PFN_P2PDMA_BUS = 1 << 5;
/** Input alias of VALID: the page must end up valid (fault it in if needed). */
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
/** Input alias of WRITE: with REQ_FAULT, the page must end up writable (write fault if needed). */
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;

/** HMM_PFN_INOUT_FLAGS: the sticky bits hmm_range_fault preserves. */
export const HMM_PFN_INOUT_FLAGS = HMM_PFN_DMA_MAPPED | HMM_PFN_P2PDMA | HMM_PFN_P2PDMA_BUS;
/** Every flag bit a caller may set on input (requests and sticky bits). */
export const HMM_PFN_INPUT_FLAGS = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE | HMM_PFN_INOUT_FLAGS;
/** The output flags (without the order field). */
export const HMM_PFN_FLAGS = HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_ERROR | HMM_PFN_INOUT_FLAGS;

/** HMM_RANGE_DEFAULT_TIMEOUT: the retry budget drivers give hmm_range_fault loops, in ms. */
export const HMM_RANGE_DEFAULT_TIMEOUT = 1000;

/** @internal bit position of the order field. */
export const HMM_PFN_ORDER_SHIFT = 6;
/** @internal multiplier of the pfn. */
export const HMM_PFN_PFN_MUL = 65536;
const ORDER_MASK = 0x1f;

/** hmm_pfn_flags (model name): the VALID / WRITE / ERROR / sticky bits of an entry. */
export function hmmPfnFlags(entry: number): number {
  return (entry >>> 0) & HMM_PFN_FLAGS;
}

/** hmm_pfn_to_page / page_to_pfn: the pfn of an entry. Meaningful only for VALID entries. */
export function hmmPfnToPfn(entry: number): number {
  return Math.floor(entry / HMM_PFN_PFN_MUL);
}

/**
 * hmm_pfn_to_map_order: log2 of the CPU mapping size in pages (0 for a PTE, 9 for a PMD-mapped THP or
 * a 2 MiB hugetlb page). The mapping starts at the order-aligned address and may extend past the
 * range; clip to it.
 */
export function hmmPfnToMapOrder(entry: number): number {
  return ((entry >>> 0) >>> HMM_PFN_ORDER_SHIFT) & ORDER_MASK;
}

/** @internal An output entry: pfn, flags, order. */
export function hmmPfnMake(pfn: number, flags: number, order: number): number {
  return pfn * HMM_PFN_PFN_MUL + ((order << HMM_PFN_ORDER_SHIFT) | flags);
}
