import { AuditSink, Authenticator, Policy, definePlugin } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, testPrincipal, uniqueTenant } from '@gatehouse-mcp/engine/testing';

/** A governance plugin made of the test kit's fakes: two principals of one tenant, grants in attributes. */
export function recordingGovernance() {
  const tenant = uniqueTenant('proto');
  const reader = testPrincipal({ tenant, id: 'reader', label: 'Reader', attributes: { grants: ['docs:read'] } });
  const other = testPrincipal({ tenant, id: 'other', label: 'Other', attributes: { grants: ['docs:read'] } });
  const audit = new RecordingAuditSink();
  const policy = new RecordingPolicy((principal, request) => !request.permission || ((principal.attributes.grants as string[]) ?? []).includes(request.permission));
  // Same kind and id as the reader, but another tenant: still another principal.
  const twin = testPrincipal({ tenant: uniqueTenant('twin'), id: 'reader', label: 'Reader elsewhere', attributes: { grants: ['docs:read'] } });
  const authenticator = new StaticTokenAuthenticator({ 'reader-token': reader, 'other-token': other, 'twin-token': twin });
  const edition = definePlugin({
    id: 'recording-edition',
    register({ bind }) {
      bind(Authenticator).toConstantValue(authenticator);
      bind(Policy).toConstantValue(policy);
      bind(AuditSink).toConstantValue(audit);
    },
  });
  return { tenant, reader, other, audit, policy, edition };
}

/** POST one JSON-RPC message to an MCP URL. */
export async function post(url: string, token: string, message: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(message),
  });
}

/** A JSON response body, loosely typed for assertions. */
export async function body(response: Response): Promise<any> {
  return response.json();
}

/** The JSON-RPC messages of an SSE body, in order. */
export function sseMessages(text: string): any[] {
  return text
    .split('\n\n')
    .map((event) => event.split('\n').filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n'))
    .filter(Boolean)
    .map((data) => JSON.parse(data));
}

/** One server-sent event: its id, retry and data lines (keep-alive comments are skipped). */
export interface SseEvent {
  readonly id?: string;
  readonly retry?: number;
  readonly data: string;
}

/** Read an SSE body event by event, as it arrives. `next()` resolves undefined once the stream has ended. */
export function sseEvents(response: Response): { next(): Promise<SseEvent | undefined>; cancel(): Promise<void> } {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let done = false;
  return {
    async next() {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end !== -1) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const lines = block.split('\n').filter((line) => !line.startsWith(':'));
          if (lines.length === 0) continue;
          const field = (name: string) => lines.filter((line) => line.startsWith(`${name}:`)).map((line) => line.slice(name.length + 1).replace(/^ /, ''));
          const retry = field('retry')[0];
          return { id: field('id')[0], retry: retry === undefined ? undefined : Number(retry), data: field('data').join('\n') };
        }
        if (done) return undefined;
        const chunk = await reader.read();
        if (chunk.done) done = true;
        else buffered += chunk.value;
      }
    },
    cancel: () => reader.cancel().catch(() => undefined),
  };
}
