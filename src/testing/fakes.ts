import type { AuditEvent, AuditSink, AuthRequest, AuthResult, Authenticator, Policy, PolicyDecision, PolicyRequest, Principal } from '../core/index.js';

/** An audit sink that keeps every event in memory, in order. */
export class RecordingAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];
  /** Set to false to make the engine refuse calls as if the audit trail were unavailable. */
  accept = true;
  closed = false;
  record(event: AuditEvent): void {
    this.events.push(event);
  }
  accepting(): boolean {
    return this.accept;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * An authenticator that accepts fixed bearer tokens, each standing for one principal. It keeps
 * nothing of the requests it sees: a test engine may serve thousands of them.
 */
export class StaticTokenAuthenticator implements Authenticator {
  private readonly tokens: Map<string, Principal>;
  constructor(tokens: Readonly<Record<string, Principal>>) {
    this.tokens = new Map(Object.entries(tokens));
  }
  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const match = /^Bearer (\S+)$/i.exec(request.header('authorization') ?? '');
    if (!match) return { ok: false, description: 'A bearer token is required.' };
    const principal = this.tokens.get(match[1]!);
    return principal ? { ok: true, principal } : { ok: false, error: 'invalid_token', description: 'Unknown token.' };
  }
  challenge(): Record<string, string> {
    return {};
  }
}

/** A policy driven by a function (default: allow everything) that records every decision it makes. */
export class RecordingPolicy implements Policy {
  readonly decisions: { principal: Principal; request: PolicyRequest; decision: PolicyDecision }[] = [];
  constructor(private readonly rule: (principal: Principal, request: PolicyRequest) => boolean = () => true) {}
  decide(principal: Principal, request: PolicyRequest): PolicyDecision {
    const allow = this.rule(principal, request);
    const decision: PolicyDecision = allow
      ? { allow, reason: 'allowed by test policy' }
      : { allow, reason: request.permission ? `missing permission ${request.permission}` : 'denied by test policy', missingPermission: request.permission };
    this.decisions.push({ principal, request, decision });
    return decision;
  }
}

/** A principal for tests. */
export function testPrincipal(overrides: Partial<Principal> & Pick<Principal, 'tenant'>): Principal {
  return { kind: 'test', id: 'test-principal', label: 'Test principal', scopes: ['mcp'], attributes: {}, ...overrides };
}
