import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** The option `word` names (`--name`, `--name=value`, or a one-letter `-x`), whether or not it exists. */
function nameOf(word: string, options: Options): string | undefined {
  if (word.startsWith('--')) return word.slice(2).split('=', 1)[0];
  return word.length === 2 && word[0] === '-' ? Object.keys(options).find((key) => options[key]!.short === word[1]) : undefined;
}

/** Whether `word` is one of `options`, not a value. */
function isOption(word: string, options: Options): boolean {
  const name = nameOf(word, options);
  return name !== undefined && Object.hasOwn(options, name);
}

/** The option a word names when it is written without its value (`--name` or `-x`), if it takes a string. */
function stringOption(word: string, options: Options): string | undefined {
  const name = word.includes('=') ? undefined : nameOf(word, options);
  return name !== undefined && options[name]?.type === 'string' ? name : undefined;
}

/**
 * Strict `parseArgs` (options and positionals), except that a value may begin with "-": an IdP's
 * client id, a key's name or a file may, and `--client-id -x3Fq` means the value "-x3Fq" unless the
 * word after the option is itself one of the options. Errors are one sentence, ready to show;
 * an option left without its value names the `--option=value` form.
 */
export function parseFlags<const O extends Options>(argv: readonly string[], options: O): Parsed<O> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = stringOption(word, options);
    if (name !== undefined && next !== undefined && next.startsWith('-') && next !== '--' && !isOption(next, options)) {
      args.push(`--${name}=${next}`);
      i++;
    } else {
      args.push(word);
    }
  }
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message;
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = /'(?:-\w, )?(--[^' ]+)/.exec(message)?.[1];
      if (option !== undefined && /argument missing|ambiguous/.test(message)) {
        throw new Error(`${option} needs a value (one that starts with "-" can be written ${option}=<value>).`, { cause: error });
      }
    }
    const first = /^[^.\n]*(?:\.|$)/.exec(message)![0];
    throw new Error(first.endsWith('.') ? first : `${first}.`, { cause: error });
  }
}
