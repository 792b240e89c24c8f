import { format } from 'node:util';
import { serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { ErrorCode, isJSONRPCRequest, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { startBridge } from './bridge.js';
import { ClientCredentialsTokenSource } from './client-credentials-token-source.js';
import { ConnectorError, EXIT_CONNECT, EXIT_OK, EXIT_USAGE, UsageError } from './connector-error.js';
import { USAGE, parseCommandLine, readApiKey, readClientSecret, type RunOptions } from './options.js';
import { CONFIG_LOCATION, placeholderNote, renderClientConfig } from './print-config.js';
import { SIGNAL_EXIT, type StopSignals } from './signals.js';
import { maskUrlsIn } from './shown-url.js';
import { StderrLogger } from './stderr-logger.js';
import { ConnectorStdioTransport, parseLine } from './stdio-transport.js';
import { ApiKeyTokenSource, type TokenSource } from './token-source.js';
import { registryLaunch } from './launch-command.js';
import { CONNECTOR_BIN, CONNECTOR_NAME, CONNECTOR_VERSION } from './version.js';

function tokenSource(options: RunOptions, logger: StderrLogger): TokenSource {
  const { auth } = options;
  if (auth.mode === 'api-key') {
    const key = readApiKey(auth);
    logger.addSecret(key);
    return new ApiKeyTokenSource(key, auth.envName);
  }
  const clientSecret = readClientSecret(auth);
  logger.addSecret(clientSecret);
  return new ClientCredentialsTokenSource({ ...auth, clientSecret, timeoutMs: options.timeoutMs, logger });
}

/** How long a connector that failed to start waits for its client's first request, to answer it. */
const FIRST_REQUEST_WAIT_MS = 1_000;
/** The same wait when a signal stops the connector before it serves: short, the signal asks to stop. */
const FIRST_REQUEST_WAIT_ON_SIGNAL_MS = 250;
/**
 * How long a stopping connector gives its client to take the answers to the requests in flight: a
 * client that stopped reading stdout would otherwise hold it until a second signal.
 */
const ABANDON_GRACE_MS = 1_000;
/** More than this before a whole first request: stop reading. */
const FIRST_REQUEST_MAX_CHARS = 1024 * 1024;

/** The requests among the whole lines `received` holds (taken out of it); a line that is no JSON-RPC message is skipped. */
function* requests(received: { text: string }): Generator<JSONRPCRequest> {
  for (let newline = received.text.indexOf('\n'); newline !== -1; newline = received.text.indexOf('\n')) {
    const line = received.text.slice(0, newline);
    received.text = received.text.slice(newline + 1);
    for (const message of parseLine(line).messages) if (isJSONRPCRequest(message)) yield message;
  }
}

/**
 * Answer the requests the client has sent (its `initialize`) with why the connector cannot serve,
 * so a client shows the reason itself, not only that its server went away. Waits up to `waitMs`
 * for the first one, never on a terminal or a closed stdin.
 */
function answerWithFailure(failure: string, waitMs = FIRST_REQUEST_WAIT_MS): Promise<void> {
  const stdin = process.stdin;
  if (stdin.isTTY || stdin.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const received = { text: '' };
    const decoder = new TextDecoder();
    const finish = (): void => {
      clearTimeout(timer);
      stdin.off('data', onData).off('end', finish);
      stdin.pause();
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      received.text += decoder.decode(chunk, { stream: true });
      if (received.text.length > FIRST_REQUEST_MAX_CHARS) return finish(); // more than a first request: stop reading
      let answered = false;
      for (const request of requests(received)) {
        process.stdout.write(serializeMessage({ jsonrpc: '2.0', id: request.id, error: { code: ErrorCode.ConnectionClosed, message: failure } }));
        answered = true;
      }
      if (answered) finish();
    };
    const timer = setTimeout(finish, waitMs);
    stdin.on('data', onData).once('end', finish);
  });
}

async function run(options: RunOptions, signals: StopSignals): Promise<number> {
  const logger = new StderrLogger(options.verbose);
  // stdout is the protocol channel: anything a dependency prints goes to stderr instead.
  console.log = console.info = console.debug = (...args: unknown[]) => logger.debug(format(...args));
  const tokens = tokenSource(options, logger);
  const local = new ConnectorStdioTransport({
    endGraceMs: options.timeoutMs,
    onStdoutError: (error) => logger.debug(`the client has gone (stdout: ${(error as NodeJS.ErrnoException).code ?? error.message}); stopping.`),
  });
  const starting = startBridge({ url: options.url, tokens, timeoutMs: options.timeoutMs, logger, local });
  // A signal ends the session at once, answering the requests in flight; it may come before the
  // bridge is up, which is then not waited for. The client closing stdin ends it too, once what it
  // asked is answered (the transport).
  const first = await Promise.race([
    starting.then(
      (bridge) => ({ bridge }),
      (error: unknown) => ({ error }),
    ),
    signals.first.then((signal) => ({ signal })),
  ]);
  if ('signal' in first) {
    logger.debug(`${first.signal}: stopping before the connection to the server is up.`);
    void starting.then((bridge) => bridge.close(), () => undefined);
    await answerWithFailure(`${CONNECTOR_BIN} is stopping (${first.signal}).`, FIRST_REQUEST_WAIT_ON_SIGNAL_MS);
    return SIGNAL_EXIT[first.signal];
  }
  if ('error' in first) {
    const { error } = first;
    if (error instanceof ConnectorError) {
      logger.error(error.message);
      await answerWithFailure(logger.redact(`${CONNECTOR_BIN}: ${error.message}`));
      return error.kind === 'config' ? EXIT_USAGE : EXIT_CONNECT;
    }
    throw error;
  }
  const { bridge } = first;
  void signals.first.then((signal) => {
    logger.debug(`${signal}: stopping.`);
    const abandoned = local.abandon(`${CONNECTOR_BIN} is stopping (${signal}).`);
    const grace = new Promise<void>((resolve) => setTimeout(resolve, ABANDON_GRACE_MS).unref());
    void Promise.race([abandoned, grace]).finally(() => bridge.close());
  });
  if (process.stdin.readableEnded) void bridge.close();
  await bridge.closed;
  await bridge.close();
  // Stopped by a signal: the conventional 128 + its number, even when stdin closed meanwhile.
  return signals.received ? SIGNAL_EXIT[signals.received] : EXIT_OK;
}

async function main(argv: readonly string[], signals: StopSignals): Promise<number> {
  // A reader that has gone (EPIPE) is not a crash: whatever was being written has no one to read it.
  process.stdout.on('error', () => undefined);
  let command;
  try {
    command = parseCommandLine(argv);
    switch (command.command) {
      case 'help':
        process.stdout.write(USAGE);
        return EXIT_OK;
      case 'version':
        process.stdout.write(`${CONNECTOR_VERSION}\n`);
        return EXIT_OK;
      case 'print-config': {
        process.stdout.write(`${renderClientConfig(command)}\n`);
        process.stderr.write(`${CONFIG_LOCATION[command.client]}\n`);
        const note = placeholderNote(command);
        if (note) process.stderr.write(`${note}\n`);
        if (command.packageSpec === undefined) {
          const registry = registryLaunch();
          process.stderr.write(
            `This configuration starts the connector from where it is on this machine. After installing ${CONNECTOR_NAME} from the registry, ` +
              `"command": "${registry.command}" with "args": ${JSON.stringify(registry.args)} followed by the same flags starts it too ` +
              `(print-config --package ${CONNECTOR_NAME} prints that form).\n`,
          );
        }
        return EXIT_OK;
      }
      case 'run':
        return await run(command, signals);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${CONNECTOR_BIN}: ${maskUrlsIn(error.message)}\nRun "${CONNECTOR_BIN} --help" for usage.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`${CONNECTOR_BIN}: unexpected failure: ${maskUrlsIn(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    return EXIT_CONNECT;
  }
}

/** Run the connector with these arguments, then exit with its status; `signals` are caught from the entry on. */
export function runConnector(argv: readonly string[], signals: StopSignals): void {
  main(argv, signals).then(
    (code) => {
      process.exitCode = code;
      // Open sockets (keep-alive, a pending SSE stream) must not keep a finished connector alive.
      setTimeout(() => process.exit(code), 100).unref();
    },
    () => process.exit(EXIT_CONNECT),
  );
}
