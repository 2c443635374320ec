// Counting D1 work (DESIGN section 11): one D1 database executes about 1,000 simple statements
// a second, so what a route costs is counted where it is spent, on the binding every route
// and background task already uses. A statement is the unit of the capacity model (a batch of
// four is four statements but one round trip); statements sent through a read-replica session
// are counted apart, since they are the ones replication takes off the primary.

export interface D1Tally {
  statements: number;
  round_trips: number;
  // Sent through a `first-unconstrained` session: a replica may serve them.
  replica_statements: number;
}

export function newTally(): D1Tally {
  return { statements: 0, round_trips: 0, replica_statements: 0 };
}

// What a counted statement wraps; batch() must hand the binding its own statements back.
const INNER = Symbol('tally.inner');

interface CountedStatement {
  [INNER]: D1PreparedStatement;
}

function unwrap(statement: D1PreparedStatement): D1PreparedStatement {
  return (statement as unknown as Partial<CountedStatement>)[INNER] ?? statement;
}

function countStatement(inner: D1PreparedStatement, tally: D1Tally, replica: boolean): D1PreparedStatement {
  const spend = () => {
    tally.statements += 1;
    tally.round_trips += 1;
    if (replica) tally.replica_statements += 1;
  };
  const counted = {
    [INNER]: inner,
    bind: (...values: unknown[]) => countStatement(inner.bind(...values), tally, replica),
    first: (column?: string) => {
      spend();
      return column === undefined ? inner.first() : inner.first(column);
    },
    run: () => {
      spend();
      return inner.run();
    },
    all: () => {
      spend();
      return inner.all();
    },
    raw: (options?: { columnNames?: boolean }) => {
      spend();
      return options?.columnNames === true ? inner.raw({ columnNames: true }) : inner.raw();
    },
  };
  return counted as unknown as D1PreparedStatement;
}

function countBatch(
  batch: (statements: D1PreparedStatement[]) => Promise<D1Result[]>,
  tally: D1Tally,
  replica: boolean,
): <T = unknown>(statements: D1PreparedStatement[]) => Promise<D1Result<T>[]> {
  return async <T>(statements: D1PreparedStatement[]) => {
    tally.statements += statements.length;
    tally.round_trips += 1;
    if (replica) tally.replica_statements += statements.length;
    return (await batch(statements.map(unwrap))) as D1Result<T>[];
  };
}

function countSession(inner: D1DatabaseSession, tally: D1Tally, replica: boolean): D1DatabaseSession {
  const counted = {
    prepare: (query: string) => countStatement(inner.prepare(query), tally, replica),
    batch: countBatch((statements) => inner.batch(statements), tally, replica),
    getBookmark: () => inner.getBookmark(),
  };
  return counted as unknown as D1DatabaseSession;
}

/** The binding, counting every statement into `tally`; behaves exactly like `d1` otherwise. */
export function tallyD1(d1: D1Database, tally: D1Tally): D1Database {
  const counted = {
    prepare: (query: string) => countStatement(d1.prepare(query), tally, false),
    batch: countBatch((statements) => d1.batch(statements), tally, false),
    exec: (query: string) => {
      tally.statements += 1;
      tally.round_trips += 1;
      return d1.exec(query);
    },
    withSession: (constraint?: string) =>
      countSession(d1.withSession(constraint), tally, constraint !== undefined && constraint !== 'first-primary'),
    dump: () => d1.dump(),
  };
  return counted as unknown as D1Database;
}
