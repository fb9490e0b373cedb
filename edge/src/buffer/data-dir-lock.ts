import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { EdgeError } from '../errors.js';

export const LOCK_FILE = 'agent.lock';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One agent per data directory: two agents writing one buffer would each sign their own log over
 * the other's records. The lock is a file created exclusively, holding the owner's pid; a lock
 * whose process is gone (kill -9, power loss) is taken over.
 */
export class DataDirLock {
  private constructor(private readonly file: string) {}

  /** Throws EDGE_DATA_DIR_LOCKED when another running agent holds the directory. */
  static acquire(dataDir: string): DataDirLock {
    const file = path.join(dataDir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DataDirLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
      } catch {
        /* removed meanwhile: try again */
      }
      if (alive(owner))
        throw new EdgeError(
          'EDGE_DATA_DIR_LOCKED',
          `another rigtrace-edge agent (pid ${owner}) is running on ${dataDir}; stop it first, or give this one its own edge.dataDir`,
        );
      try {
        unlinkSync(file); // stale: its process is gone
      } catch {
        /* another agent took it over first: the next attempt finds out */
      }
    }
    throw new EdgeError('EDGE_DATA_DIR_LOCKED', `could not take the lock ${file}`);
  }

  release(): void {
    try {
      if (Number.parseInt(readFileSync(this.file, 'utf8'), 10) === process.pid) unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }
}
