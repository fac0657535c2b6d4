#!/usr/bin/env -S npx tsx
/** The `weft` command. Each subcommand lives in cli/commands/ and registers itself here. */
import { Command } from 'commander';
import { registerValidate } from './commands/validate.ts';
import { registerRender } from './commands/render.ts';
import { registerStatus } from './commands/status.ts';
import { registerSandbox } from './commands/sandbox.ts';
import { registerDiagnose } from './commands/diagnose.ts';
import { registerUninstall } from './commands/uninstall.ts';
import { registerConvert } from './commands/convert.ts';

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

await program.parseAsync(process.argv);
