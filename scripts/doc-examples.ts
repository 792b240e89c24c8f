/**
 * The code blocks of README.md and docs/*.md, as `npm run docs:check` and the package tests
 * (test/packages/doc-examples.test.ts) read them.
 *
 * Markers, each alone on the line before a block's opening fence (blank lines in between are fine):
 *
 * - `<!-- fragment -->` — a TypeScript block that is deliberately partial (a piece of an options
 *   object, code using names from the surrounding text). It is neither compiled nor run.
 * - `<!-- no-run: <reason> -->` — a block that compiles (TypeScript) but is not executed, or a shell
 *   block whose commands are not run, because running it needs something the tests cannot provide
 *   (a published registry package, a machine's own paths). The reason is required and shown by the
 *   tests; keep these few.
 *
 * Every other TypeScript block is type-checked twice (against the sources by `docs:check`, against
 * the installed tarball by `test:packages`) and executed against the installed tarball; every
 * `gatehouse` / `gatehouse-connector` command of the other shell blocks is run against the installed
 * packages by `test:packages`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FRAGMENT = '<!-- fragment -->';
const NO_RUN = /^<!--\s*no-run:\s*(.*?)\s*-->$/;

export interface DocBlock {
  /** `README.md` or `docs/<name>.md`. */
  readonly source: string;
  /** The line of the block's first code line (1-based). */
  readonly line: number;
  /** `ts` for TypeScript blocks, `sh` for shell blocks. */
  readonly kind: 'ts' | 'sh';
  readonly code: string;
  readonly fragment: boolean;
  /** Why the block is not executed, when it carries `<!-- no-run: … -->`. */
  readonly noRun?: string;
}

/** README.md and docs/*.md, relative to the repository root. */
export function docFiles(root = ROOT): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];
}

/** Every ```ts / ```sh block of one document, with its marker. */
export function blocksOf(file: string, root = ROOT): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript|sh|bash|shell)\s*$/.exec(lines[i]!);
    if (!fence) {
      // Skip other fenced blocks whole, so their contents are never taken for fences.
      if (/^```\S*\s*$/.test(lines[i]!)) for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++);
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let previous = start - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? lines[previous]!.trim() : '';
    const noRun = NO_RUN.exec(marker);
    if (noRun && !noRun[1]) throw new Error(`${file}:${start + 1}: <!-- no-run: … --> needs a reason`);
    blocks.push({
      source: file,
      line: start + 2,
      kind: fence[1] === 'ts' || fence[1] === 'typescript' ? 'ts' : 'sh',
      code: body.join('\n'),
      fragment: marker === FRAGMENT,
      ...(noRun ? { noRun: noRun[1]! } : {}),
    });
  }
  return blocks;
}

/** Every block of README.md and docs/*.md. */
export function docBlocks(root = ROOT): DocBlock[] {
  return docFiles(root).flatMap((file) => blocksOf(file, root));
}

/** A file name for a block's module: stable, and naming where the block is. */
export function moduleName(block: DocBlock, index: number): string {
  return `${String(index).padStart(3, '0')}-${block.source.replace(/[/.]/g, '-')}-${block.line}`;
}

/**
 * The host's own modules the examples import, stood in for by the repository's example plugin.
 * `target` is the directory that holds `examples/tickets-plugin/` (the repository root for the
 * sources, `node_modules/@gatehouse-mcp/engine/dist` for the installed package), relative to the
 * directory the block modules are written to.
 */
export function hostModules(target: string): Record<string, string> {
  const up = (depth: number) => `${'../'.repeat(depth)}${target}/examples/tickets-plugin`;
  return {
    'plugins/tickets/index.ts': `export { ticketsPlugin } from '${up(2)}/index.js';`,
    'tickets-plugin/index.ts': `export { ticketsPlugin } from '${up(1)}/index.js';`,
    'examples/tickets-plugin/index.ts': `export { ticketsPlugin } from '${up(2)}/index.js';`,
    'examples/tickets-plugin/rest-api.ts': `export { ticketsApiRegistry } from '${up(2)}/rest-api.js';`,
  };
}

/**
 * The commands of a shell block that run a Gatehouse CLI (`gatehouse …`, `npx gatehouse …`,
 * `npx … gatehouse-connector …`, `npx -y @gatehouse-mcp/connector …`), one string per command with
 * continuation lines joined and comments dropped. Other commands (npm, curl, openssl) are not ours
 * to run here.
 */
export function cliCommands(block: DocBlock): string[] {
  const commands: string[] = [];
  let current = '';
  for (const raw of block.code.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    current += current ? ` ${line.trim()}` : line.trim();
    if (current.endsWith('\\')) {
      current = current.slice(0, -1).trimEnd();
      continue;
    }
    if (/^(?:[A-Z_]+=\S+\s+)*(?:npx\s+(?:-y\s+)?(?:--package=\S+\s+)?)?(?:gatehouse|gatehouse-connector|@gatehouse-mcp\/connector)(?:\s|$)/.test(current)) {
      commands.push(current);
    }
    current = '';
  }
  return commands;
}
