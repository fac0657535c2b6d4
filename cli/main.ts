#!/usr/bin/env -S npx tsx
/**
 * The `weft` command. Each subcommand lives in cli/commands/ and registers itself here.
 * Errors a command does not handle itself end as one line on stderr (`weft: ...`, no stack
 * trace) with exit code 2; see cli/README.md for each command's exit codes.
 */
import { Command } from 'commander';
import { registerValidate } from './commands/validate.ts';
import { registerRender } from './commands/render.ts';
import { registerStatus } from './commands/status.ts';
import { registerSandbox } from './commands/sandbox.ts';
import { registerDiagnose } from './commands/diagnose.ts';
import { registerUninstall } from './commands/uninstall.ts';
import { registerConvert } from './commands/convert.ts';
import { describeError } from './errors.ts';

const program = new Command('weft')
  .description('Weft: a Kubernetes pod-network operator')
  .showHelpAfterError()
  .enablePositionalOptions();

registerValidate(program);
registerRender(program);
registerStatus(program);
registerSandbox(program);
registerDiagnose(program);
registerUninstall(program);
registerConvert(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const command = process.argv[2] && !process.argv[2].startsWith('-') ? ` ${process.argv[2]}` : '';
  process.stderr.write(`weft${command}: ${describeError(err)}\n`);
  process.exitCode = 2;
}
