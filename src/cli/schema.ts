/**
 * `mirrorlab schema`: prints the JSON Schema of scenario files (for editors: save it and point
 * the YAML language server at it with `# yaml-language-server: $schema=...`).
 */
import type { Command } from 'commander';
import { scenarioJsonSchema } from '../scenario/file/schema.js';

/** Adds the `schema` sub-command. */
export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(() => {
      console.log(JSON.stringify(scenarioJsonSchema, null, 2));
    });
}
