/** Where a command writes: injected so commands never touch `process` directly. */
export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

/** Output to the process's stdout and stderr. */
export const processOutput: CliOutput = {
  out: (text) => {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  },
  err: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};

/** Print a value as one line of JSON. */
export function printJson(output: CliOutput, value: unknown): void {
  output.out(JSON.stringify(value));
}
