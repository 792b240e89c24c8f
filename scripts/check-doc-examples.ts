/**
 * Type-checks every ```ts block of README.md and docs/*.md against the package, as one TypeScript
 * program (`npm run docs:check`). Each block is its own module; `@gatehouse-mcp/engine` resolves
 * through the package's self-reference (the `gatehouse-source` condition). A block that is not meant
 * to compile on its own says so with `<!-- fragment -->` on the line before its fence.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, '.doc-examples');
const FRAGMENT = '<!-- fragment -->';

interface Block {
  readonly source: string;
  readonly line: number;
  readonly code: string;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    let previous = start - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    if (previous >= 0 && lines[previous]!.trim() === FRAGMENT) continue;
    blocks.push({ source: file, line: start + 2, code: body.join('\n') });
  }
  return blocks;
}

const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];
const blocks = files.flatMap(blocksOf);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const names = new Map<string, Block>();
blocks.forEach((block, index) => {
  const name = `${String(index).padStart(3, '0')}-${block.source.replace(/[/.]/g, '-')}-${block.line}.ts`;
  // `export {}` makes every block a module of its own, so blocks never see each other's names.
  writeFileSync(join(out, name), `${block.code}\nexport {};\n`);
  names.set(name, block);
});
// The host's own modules the examples import, stood in for by the repository's example plugin.
const hostModules: Record<string, string> = {
  'plugins/tickets/index.ts': "export { ticketsPlugin } from '../../../examples/tickets-plugin/index.js';",
  'tickets-plugin/index.ts': "export { ticketsPlugin } from '../../examples/tickets-plugin/index.js';",
  'examples/tickets-plugin/index.ts': "export { ticketsPlugin } from '../../../examples/tickets-plugin/index.js';",
  'examples/tickets-plugin/rest-api.ts': "export { ticketsApiRegistry } from '../../../examples/tickets-plugin/rest-api.js';",
};
for (const [path, code] of Object.entries(hostModules)) {
  mkdirSync(join(out, path, '..'), { recursive: true });
  writeFileSync(join(out, path), `${code}\n`);
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        customConditions: ['gatehouse-source'],
        lib: ['ES2023'],
        types: ['node'],
        strict: true,
        experimentalDecorators: true,
        esModuleInterop: true,
        skipLibCheck: true,
        verbatimModuleSyntax: false,
        noEmit: true,
        noUnusedLocals: false,
      },
      include: ['**/*.ts'],
    },
    null,
    2,
  ),
);
// Resolved from the repository's package.json ("type": "module"), so blocks are ES modules.
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(out, 'tsconfig.json'), '--pretty', 'false'], { cwd: root, encoding: 'utf8' });
const output = `${result.stdout}${result.stderr}`;
let errors = 0;
for (const line of output.split('\n')) {
  const match = /^(?:\.doc-examples\/)?([^(\s]+\.ts)\((\d+),(\d+)\): (.*)$/.exec(relative(root, line.startsWith('/') ? line : join(root, line)).replace(/\\/g, '/'));
  const block = match ? names.get(match[1]!.replace(/^\.doc-examples\//, '')) : undefined;
  if (match && block) {
    errors++;
    console.error(`${block.source}:${block.line + Number(match[2]) - 1}:${match[3]}: ${match[4]}`);
  } else if (line.trim()) {
    errors++;
    console.error(line);
  }
}
if (result.status !== 0 || errors > 0) {
  console.error(`\n${errors} error(s) in the documentation's TypeScript examples (${blocks.length} blocks checked). Fix the example, or mark a deliberate fragment with ${FRAGMENT} on the line before its fence.`);
  process.exit(1);
}
console.log(`${blocks.length} TypeScript examples in README.md and docs/*.md compile.`);
