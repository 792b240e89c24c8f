// `npm start` / `npm run gatehouse`: the compiled CLI when the build is current (as a deployment
// runs it: no TypeScript loader at start), else the sources through tsx (a fresh clone before
// `npm run build`, or sources changed since the last build).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'src', 'cli', 'gatehouse.js');
const marker = path.join(root, 'dist', 'src', 'core', 'index.js');

function newest(dir) {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return time;
}

function currentBuild() {
  if (!existsSync(compiled) || !existsSync(marker)) return false;
  const built = statSync(marker).mtimeMs;
  return ['src', 'migrations', 'ee-migrations'].every((dir) => !existsSync(path.join(root, dir)) || newest(path.join(root, dir)) <= built);
}

const args = process.argv.slice(2);
const argv = currentBuild()
  ? [compiled, ...args]
  : ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'src', 'cli', 'gatehouse.ts'), ...args];
const child = spawn(process.execPath, argv, { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 143)));
