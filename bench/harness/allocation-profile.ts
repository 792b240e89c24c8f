import { locate } from './cpu-profile.js';
import type { AllocationSample } from './protocol.js';

interface SamplingNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly SamplingNode[];
}

/**
 * Bytes allocated per site in a sampling heap profile (V8's `HeapProfiler.stopSampling`, taken
 * with collected objects included, so it counts every allocation, not only what survived).
 */
export function summariseAllocations(profile: { readonly head: SamplingNode }, top = 12): AllocationSample {
  const bySite = new Map<string, { function: string; location: string; bytes: number }>();
  let bytes = 0;
  const visit = (node: SamplingNode): void => {
    if (node.selfSize > 0) {
      bytes += node.selfSize;
      const name = node.callFrame.functionName || '(anonymous)';
      const location = name.startsWith('(') ? '' : locate(node.callFrame.url, node.callFrame.lineNumber);
      const key = `${name}@${location}`;
      const site = bySite.get(key) ?? { function: name, location, bytes: 0 };
      site.bytes += node.selfSize;
      bySite.set(key, site);
    }
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return { bytes, top: [...bySite.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top) };
}
