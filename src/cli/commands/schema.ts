import { Command } from 'commander';
import { policyJsonSchema } from '../../policy/json-schema.js';
import { ExitCode } from '../exit-codes.js';
import type { CliOutput } from '../output.js';

/** `lapse schema`: print the JSON Schema of the policy file, for editor completion. */
export function schemaCommand(output: CliOutput, setExit: (code: number) => void): Command {
  return new Command('schema')
    .description('print the JSON Schema of lapse.yaml (for editor completion and validation)')
    .action(() => {
      output.out(JSON.stringify(policyJsonSchema(), null, 2));
      setExit(ExitCode.OK);
    });
}
