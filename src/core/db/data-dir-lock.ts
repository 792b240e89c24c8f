import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

const LOCK_FILE = 'gatehouse.lock';

/** The embedded database's files are in use by another running process. */
export class DataDirInUseError extends ConfigError {}

/** The lock files this process holds; a lock naming this pid but not held here is a previous run's (a container restarted with the same pid). */
const held = new Set<string>();
let exitHook = false;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process at a time on an embedded database directory: a lock file holding the owner's pid.
 * A second process (the CLI while an engine serves, a second engine) would otherwise work on its
 * own copy of the data that the first never sees, and both would write the same files. A lock
 * left by a process that no longer runs is taken over.
 */
export class DataDirLock {
  private constructor(private readonly file: string) {}

  static acquire(dataDir: string): DataDirLock {
    const file = path.join(dataDir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
        held.add(file);
        if (!exitHook) {
          exitHook = true;
          process.once('exit', () => {
            for (const lock of held) rmSync(lock, { force: true });
          });
        }
        return new DataDirLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(owner) && (owner === process.pid ? held.has(file) : isRunning(owner))) {
        throw new DataDirInUseError(
          `The embedded database in ${dataDir} is in use by another process (pid ${owner}${owner === process.pid ? ', this one' : ''}); ` +
            'it serves one process only. Stop that engine first (Ctrl+C where it runs) and run this command again, ' +
            'or run the engine and the command on PostgreSQL (set DATABASE_URL) so they share one database.',
        );
      }
      rmSync(file, { force: true });
    }
    throw new DataDirInUseError(`Could not lock the embedded database in ${dataDir} (${file} keeps reappearing).`);
  }

  /** Give the directory up (only if the lock is still this process's). */
  release(): void {
    try {
      if (held.delete(this.file) && Number.parseInt(readFileSync(this.file, 'utf8'), 10) === process.pid) rmSync(this.file, { force: true });
    } catch {
      // already gone
    }
  }
}
