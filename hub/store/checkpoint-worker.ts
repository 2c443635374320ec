// The checkpointer's thread (checkpointer.ts): PASSIVE checkpoints of the hub's store on a
// connection of its own, so copying WAL frames into the database file and syncing that file
// never stop the event loop. PASSIVE takes no writer lock: the hub's commits go on meanwhile.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointReport, CheckpointWorkerData } from './checkpointer.ts';

const { db_path, interval_ms } = workerData as CheckpointWorkerData;
const port = parentPort!;
const db = new DatabaseSync(db_path);
// Checkpoints sync the WAL before copying and the database file after, in every mode.
db.exec('PRAGMA synchronous = FULL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let last: CheckpointReport | null = null;

const timer = setInterval(() => {
  const started_ms = performance.now();
  const row = checkpoint.get() as { busy: number; log: number; checkpointed: number };
  const report: CheckpointReport = { log_frames: row.log, checkpointed_frames: row.checkpointed, duration_ms: performance.now() - started_ms };
  // Only news is sent: an idle hub's thread stays quiet.
  if (last === null || report.log_frames !== last.log_frames || report.checkpointed_frames !== last.checkpointed_frames) port.postMessage(report);
  last = report;
}, interval_ms);

port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
