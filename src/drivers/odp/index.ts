/**
 * RDMA on-demand paging (drivers/infiniband/core/umem_odp.c, drivers/infiniband/hw/mlx5/odp.c),
 * registered as driver 'odp'.
 *
 * Kernel → model names:
 *   struct ib_umem_odp → IbUmemOdp; ib_umem_odp_unmap_dma_pages → umem.unmapDmaPages;
 *   struct mlx5_ib_mr (ODP) → OdpMr; mlx5_ib_invalidate_range → mr.invalidateRange;
 *   pagefault_real_mr + ib_umem_odp_map_dma_and_lock → mr.pagefaultRealMr;
 *   mlx5_ib_advise_mr_prefetch → mr.prefetch; __mlx5_ib_dereg_mr → mr.dereg (mirror.detach);
 *   create_user_odp_mr → OdpDevice.regMr; mlx5_ib_alloc_implicit_mr → OdpDevice.regImplicitMr;
 *   pagefault_implicit_mr → ImplicitOdpMr.pagefaultImplicitMr;
 *   destroy_unused_implicit_child_mr → ImplicitOdpMr.childDestroyed.
 */
export { OdpDevice, type OdpBugs, type OdpOptions, type OdpAttachOptions } from './device.js';
export { OdpMr, type OdpAdvice, type OdpFaultFlags } from './mr.js';
export { ImplicitOdpMr } from './implicit.js';
export { IbUmemOdp } from './umem.js';
export { MLX5_IMR_MTT_SIZE } from './constants.js';
