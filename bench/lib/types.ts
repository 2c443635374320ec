// The contract between `bench/run.ts` and the suites in `bench/suites/`: a suite measures,
// the runner prints and writes. A figure carries its same-run baseline so no figure is read
// without the yardstick it was measured beside.
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  // Measured in the same run, on the same machine (e.g. the bare server beside the hub).
  baseline?: { name: string; value: number };
  // What the figure should meet, in words ("p99 ≤ 1,000 ms").
  goal?: string;
  // Whether the goal is met; absent when the figure has no goal.
  ok?: boolean;
  notes?: string[];
}

export interface BenchSuiteOptions {
  // Fewer samples and shorter runs: for a smoke test of the runner, not for figures.
  quick: boolean;
  log: (line: string) => void;
}

export interface BenchSuite {
  name: string;
  run(opts: BenchSuiteOptions): Promise<BenchFigure[]>;
}

// What one `npm run bench` wrote, as bench/results/<date>-<host>.json.
export interface BenchMachine {
  cpu_model: string;
  cores: number;
  load_average_start: [number, number, number];
  node_version: string;
  platform: string;
  total_memory_bytes: number;
  host: string;
}

export interface BenchSuiteResult {
  name: string;
  duration_ms: number;
  figures: BenchFigure[];
  error?: string;
}

export interface BenchResults {
  command: string;
  date: string;
  quick: boolean;
  machine: BenchMachine;
  suites: BenchSuiteResult[];
}
