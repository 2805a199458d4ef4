/**
 * Training precision on the native engine. `train.precision: bf16` runs the convolutions in bf16 (oneDNN's
 * AVX512-BF16 kernels; fp32 tensors between layers, fp32 master weights, batch norm and optimiser), which
 * needs a CPU with bf16 dot-product instructions. Without them oneDNN would fall back to emulation far
 * slower than fp32, so bf16 is refused there instead.
 */
export type Precision = 'fp32' | 'bf16';

/** What to do where train.precision bf16 cannot run on native-cpu. */
export const BF16_HINT = 'use train.precision: fp32, or the torch engine (--engine torch), which runs bf16 autocast on any CPU';

/** What the addon reports about the ISA oneDNN runs on (native-addon.ts info()). */
export interface IsaReport {
  /** oneDNN's effective ISA (the CPU's, capped by ONEDNN_MAX_CPU_ISA), e.g. avx512_core_vnni. */
  isa: string;
  /** Whether that ISA has bf16 instructions (AVX512-BF16, or AMX). */
  bf16: boolean;
}

/**
 * Why the native engine cannot train in bf16 here, or undefined when it can. `report` is the addon's
 * info(), or the reason the addon is unusable.
 */
export function nativeBf16Refusal(report: IsaReport | {reason: string}): string | undefined {
  if ('reason' in report) return `bf16 needs the native addon, and ${report.reason}`;
  if (report.bf16) return undefined;
  return `this CPU has no AVX512-BF16 instructions (oneDNN runs on ${report.isa}), and emulating bf16 would be slower than fp32`;
}
