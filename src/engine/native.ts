/** Native CPU kernels (Node-API addon in native/). Placeholder until the addon exists. */
export function installNativeKernels(_threads: number): {ok: true} | {ok: false; reason: string} {
  return {ok: false, reason: 'the native addon is not built yet'};
}
