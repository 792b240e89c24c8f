/**
 * Type-checks every ```ts block of README.md and docs/*.md against the package's sources, as one
 * TypeScript program (`npm run docs:check`). Each block is its own module; `@gatehouse-mcp/engine`
 * resolves through the package's self-reference (the `gatehouse-source` condition). A block that is
 * not meant to compile on its own says so with `<!-- fragment -->` on the line before its fence.
 * The markers are described in scripts/doc-examples.ts; test/packages/doc-examples.test.ts checks
 * and runs the same blocks against the packed and installed package.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { FRAGMENT, ROOT as root, docBlocks, hostModules, moduleName, type DocBlock } from './doc-examples.js';

const out = join(root, '.doc-examples');
const blocks = docBlocks().filter((block) => block.kind === 'ts' && !block.fragment);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const names = new Map<string, DocBlock>();
blocks.forEach((block, index) => {
  const name = `${moduleName(block, index)}.ts`;
  // `export {}` makes every block a module of its own, so blocks never see each other's names.
  writeFileSync(join(out, name), `${block.code}\nexport {};\n`);
  names.set(name, block);
});
for (const [path, code] of Object.entries(hostModules('..'))) {
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
