import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './compiled.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface HotSpot {
  readonly function: string;
  /** Repository-relative file (`src/core/...`), package (`node_modules/<pkg>/...`) or `node:<module>`. */
  readonly location: string;
  /** Share of the busy (non-idle) samples spent in this function itself. */
  readonly selfPercent: number;
}

export interface ProfileSummary {
  /** Length of the measured window. */
  readonly windowMs: number;
  /** CPU time the thread spent on anything but idling, within the window. */
  readonly busyMs: number;
  readonly top: readonly HotSpot[];
  /** Self time grouped by where the code lives: Gatehouse core, a plugin, a package, Node itself. */
  readonly byArea: readonly { readonly area: string; readonly selfPercent: number }[];
}

const IDLE = new Set(['(idle)', '(root)']);

const BUNDLED_MODULE = /^\/\/ dist\/(src\/\S+\.js)$/;

/** Where each engine module starts in a bundled file: its (0-based) line and its path under the build. */
export type BundledModules = readonly { readonly line: number; readonly module: string }[];

/**
 * The engine's modules a file of the build holds: the build bundles the package's entries
 * (scripts/bundle-entries.ts), and esbuild heads each module it takes in with a `// dist/src/…`
 * comment. Empty for a file of one module.
 */
export function bundledModules(source: string): BundledModules {
  const modules: { line: number; module: string }[] = [];
  source.split('\n').forEach((text, line) => {
    const module = BUNDLED_MODULE.exec(text)?.[1];
    if (module) modules.push({ line, module });
  });
  return modules;
}

const bundles = new Map<string, BundledModules>();
/** Where the build's engine modules (bundled or not) are. */
const BUILT_SOURCES = path.join(ROOT, 'dist', 'src') + path.sep;

function bundledModulesOf(file: string): BundledModules {
  let modules = bundles.get(file);
  if (!modules) {
    try {
      modules = bundledModules(readFileSync(file, 'utf8'));
    } catch {
      // Not readable here: the location stays the file's.
      modules = [];
    }
    bundles.set(file, modules);
  }
  return modules;
}

/**
 * A location without machine paths: relative to the repository, or a package, or a Node module.
 * In a bundled file of the build, the engine module the line belongs to, without a line (the
 * bundle's lines are not the module's).
 */
export function locate(url: string, line: number): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return url;
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const modules = file.lastIndexOf(`${path.sep}node_modules${path.sep}`);
  if (modules !== -1) file = file.slice(modules + 1);
  else if (file.startsWith(ROOT)) {
    const holder = file.startsWith(BUILT_SOURCES) ? bundledModulesOf(file).findLast((module) => module.line <= line) : undefined;
    if (holder) return holder.module;
    file = file.slice(ROOT.length).replace(/^dist[/\\]/, '');
  } else if (path.isAbsolute(file)) file = path.basename(file);
  // Line 0 is what V8 reports for code it cannot place (e.g. transformed sources): leave it out.
  return line > 0 ? `${file.split(path.sep).join('/')}:${line + 1}` : file.split(path.sep).join('/');
}

export function areaOf(location: string): string {
  if (location.startsWith('node_modules/')) {
    const parts = location.split('/');
    return parts[1]!.startsWith('@') ? `${parts[1]}/${parts[2]}` : parts[1]!;
  }
  if (location.startsWith('src/') || location.startsWith('bench/')) return location.split('/').slice(0, 3).join('/');
  if (location.startsWith('node:')) return 'node internals';
  return location.startsWith('(') ? location : 'other';
}

/**
 * Top self-time functions of a V8 `.cpuprofile` (as written by `node --cpu-prof`), counting only
 * the samples taken inside `window` (times of the profiled process's monotonic clock, in µs).
 */
export async function summariseProfile(file: string, window: { fromMicros: number; toMicros: number }, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  if (!profile.samples || !profile.timeDeltas) throw new Error('the CPU profile has no sample times');
  if (window.fromMicros < profile.startTime || window.toMicros > profile.endTime) {
    throw new Error('the measured window lies outside the CPU profile: its clock is not the process\'s monotonic clock');
  }
  const selfMs = new Map<number, number>();
  let time = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas![index] ?? 0;
    time += delta;
    if (time >= window.fromMicros && time <= window.toMicros) selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
  });
  const byFunction = new Map<string, { function: string; location: string; ms: number }>();
  const byArea = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    const raw = node.callFrame.functionName;
    if (ms <= 0 || IDLE.has(raw)) continue;
    busy += ms;
    // V8's pseudo-frames: (garbage collector), (program)…
    const pseudo = raw.startsWith('(');
    const name = raw || '(anonymous)';
    const location = pseudo ? '' : locate(node.callFrame.url, node.callFrame.lineNumber);
    const key = `${name}@${location}`;
    const entry = byFunction.get(key) ?? { function: name, location, ms: 0 };
    entry.ms += ms;
    byFunction.set(key, entry);
    const area = pseudo ? name : areaOf(location);
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
  }
  const percent = (ms: number): number => Math.round((ms / busy) * 1000) / 10;
  return {
    windowMs: Math.round((window.toMicros - window.fromMicros) / 1000),
    busyMs: Math.round(busy),
    top: [...byFunction.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((entry) => ({ function: entry.function, location: entry.location, selfPercent: percent(entry.ms) })),
    byArea: [...byArea.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area, ms]) => ({ area, selfPercent: percent(ms) })),
  };
}
