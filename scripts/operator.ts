// `npm run operator -- create|list|disable|revoke-sessions …` (issue 10): the platform
// administrator's console accounts, against the local D1 (`npm start`'s, or --persist-to DIR)
// or the deployed one (--remote, after `wrangler login`). The HTTP admin API
// (/api/v1/admin/operators) does the same with ADMIN_TOKEN.
import { parseArgs } from 'node:util';
import { d1TargetOf } from './lib/local-d1.ts';
import { disableOperator, generatePassword, listOperators, revokeSessions, upsertOperator } from './lib/operators.ts';

const USAGE = `usage:
  npm run operator -- create <operator_id> --school <school_id> [--school …] --name <display name>
                        [--password <pw> | --access-email <email>]   (no password: one is generated and printed)
  npm run operator -- list
  npm run operator -- disable <operator_id>
  npm run operator -- revoke-sessions <operator_id>
options: --remote (the deployed D1) | --persist-to DIR (default .wrangler/state)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      school: { type: 'string', multiple: true },
      name: { type: 'string' },
      password: { type: 'string' },
      'access-email': { type: 'string' },
      remote: { type: 'boolean' },
      'persist-to': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, operator_id] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const target = d1TargetOf('operator', values);
  if (target === null) return 2;
  switch (command) {
    case 'create': {
      if (operator_id === undefined) throw new Error('create needs an operator id');
      const access_email = values['access-email'];
      const password = values.password ?? (access_email === undefined ? generatePassword() : undefined);
      await upsertOperator(target, {
        operator_id,
        display_name: values.name ?? operator_id,
        school_ids: values.school ?? [],
        ...(password === undefined ? {} : { password }),
        ...(access_email === undefined ? {} : { access_email }),
      });
      console.log(`operator ${operator_id} saved for ${(values.school ?? []).join(', ')}`);
      if (password !== undefined && values.password === undefined) console.log(`password (shown once): ${password}`);
      return 0;
    }
    case 'list': {
      for (const row of await listOperators(target)) {
        const how = [row.has_password ? 'password' : null, row.access_email ? `access ${String(row.access_email)}` : null].filter(Boolean).join(', ');
        console.log(`${String(row.id)}\t${String(row.display_name)}\t${String(row.school_ids)}\t${how}${row.disabled ? '\tDISABLED' : ''}`);
      }
      return 0;
    }
    case 'disable': {
      if (operator_id === undefined) throw new Error('disable needs an operator id');
      if (!(await disableOperator(target, operator_id))) {
        console.error(`operator: no operator ${operator_id}`);
        return 1;
      }
      console.log(`operator ${operator_id} disabled; their sessions ended`);
      return 0;
    }
    case 'revoke-sessions': {
      if (operator_id === undefined) throw new Error('revoke-sessions needs an operator id');
      console.log(`${await revokeSessions(target, operator_id)} sessions of ${operator_id} ended`);
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`operator: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    },
  );
}
