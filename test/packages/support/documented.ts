import { expect } from 'chai';
import { cliCommands, docBlocks } from '../../../scripts/doc-examples.js';

/**
 * A command exactly as README.md or docs/*.md shows it (failing when no shell block of the docs has
 * it any more), as the words a shell would pass, with `substitute` replacing what only the reader's
 * machine has (its server URL, its IdP). The commands this is used for have no quotes or variables.
 */
export function documentedCommand(command: string, substitute: Record<string, string> = {}): string[] {
  const documented = docBlocks()
    .filter((block) => block.kind === 'sh' && !block.noRun)
    .flatMap(cliCommands);
  expect(documented, 'the docs show this command').to.include(command);
  return command.split(/\s+/).map((word) => substitute[word] ?? word);
}
