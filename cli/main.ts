#!/usr/bin/env -S npx tsx
/** The `weft` command. Each subcommand lives in cli/commands/ and registers itself here. */
import { Command } from 'commander';
import { registerValidate } from './commands/validate.ts';

const program = new Command('weft')
  .description('Weft: a Kubernetes pod-network operator')
  .showHelpAfterError()
  .enablePositionalOptions();

registerValidate(program);

await program.parseAsync(process.argv);
