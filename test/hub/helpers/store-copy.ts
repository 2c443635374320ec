// Copies of a live hub store, the ways an operator might take them (hub/README.md, "Backup and
// restore"): SQLite's online backup (what `sqlite3 hub.db ".backup x.db"` does; node:sqlite's
// `backup()` here, the CLI may not be installed), a file copy with its WAL, and a file copy of
// hub.db alone, which misses every transaction not yet checkpointed into it.
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { backup, DatabaseSync } from 'node:sqlite';

export type CopyKind = 'backup' | 'with_wal' | 'without_wal';
const SIDE_FILES = ['-wal', '-shm'] as const;

export async function copyStore(db_path: string, to_path: string, kind: CopyKind): Promise<void> {
  for (const suffix of SIDE_FILES) rmSync(`${to_path}${suffix}`, { force: true });
  if (kind === 'backup') {
    const source = new DatabaseSync(db_path);
    try {
      await backup(source, to_path);
    } finally {
      source.close();
    }
    return;
  }
  copyFileSync(db_path, to_path);
  if (kind === 'with_wal' && existsSync(`${db_path}-wal`)) copyFileSync(`${db_path}-wal`, `${to_path}-wal`);
}

/** Puts a copy in place of the (stopped) hub's store, its WAL included when the copy has one. */
export function restoreStore(copy_path: string, db_path: string): void {
  for (const suffix of SIDE_FILES) rmSync(`${db_path}${suffix}`, { force: true });
  copyFileSync(copy_path, db_path);
  if (existsSync(`${copy_path}-wal`)) copyFileSync(`${copy_path}-wal`, `${db_path}-wal`);
}

/** Moves everything the WAL holds into hub.db, as SQLite's automatic checkpoint does now and then. */
export function checkpoint(db_path: string): void {
  const db = new DatabaseSync(db_path);
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } finally {
    db.close();
  }
}
