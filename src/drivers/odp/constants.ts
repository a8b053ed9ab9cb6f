/** Constants shared by the ODP files. */

/**
 * What an implicit child's access gives when the child was reclaimed under it: not an errno the
 * device sees; the parent faults again and retries through the current child.
 */
export const CHILD_GONE = -1_000_001;

/** MLX5_IMR_MTT_SIZE: the span of one implicit child upstream (1 GiB). */
export const MLX5_IMR_MTT_SIZE = 1 << 30;
