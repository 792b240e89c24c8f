import { useEffect, useState } from 'preact/hooks';
import { api, type AccessCheck, type Agent } from './api.js';
import { Empty, Notice, Status } from './components.js';
import { Simulator } from './simulator.js';

function why(tool: AccessCheck['tools'][number]): string {
  if (tool.allowed) return tool.approvalRequired ? 'Allowed with approval: each call waits until an approver approves it on the Approvals page.' : '';
  if (tool.reason === 'agent inactive') return 'The agent is inactive: reactivate it on the Agents page.';
  if (tool.reason === 'IdP inactive') return 'The agent’s identity provider is inactive and it has no active API key.';
  if (tool.reason === 'no active credential') return 'The agent has no usable credential: bind it to an identity provider or issue it an API key.';
  if (tool.missingPermission) return `Missing permission ${tool.missingPermission}: give the agent a role that grants it.`;
  return tool.reason;
}

export function AccessPage() {
  const [agents, setAgents] = useState<Agent[] | undefined>();
  const [agentId, setAgentId] = useState('');
  const [check, setCheck] = useState<AccessCheck | undefined>();
  const [simulated, setSimulated] = useState<{ tool: string } | undefined>();
  const [error, setError] = useState<string>();

  useEffect(() => void api<Agent[]>('GET', '/api/v1/mcp/agents').then(setAgents, (e: Error) => setError(e.message)), []);
  useEffect(() => {
    setCheck(undefined);
    if (!agentId) return;
    api<AccessCheck>('GET', `/api/v1/mcp/access-check?agent=${encodeURIComponent(agentId)}`).then(setCheck, (e: Error) => setError(e.message));
  }, [agentId]);

  if (agents?.length === 0) {
    return <Empty title="No agents to check">Create an agent on the Agents page; then pick it here to see every tool it may call and why it may not call the others.</Empty>;
  }
  return (
    <section>
      <p class="lead">Pick an agent to see every tool it may call right now and, for each one it may not, why; then simulate one exact call to see what the policies decide.</p>
      <Notice message={error} />
      <div class="field narrow">
        <label for="access-agent">Agent</label>
        <select id="access-agent" name="agent" value={agentId} onChange={(event) => setAgentId((event.target as HTMLSelectElement).value)}>
          <option value="">Choose an agent…</option>
          {(agents ?? []).map((agent) => (
            <option key={agent.id} value={agent.id}>
              {agent.name}
            </option>
          ))}
        </select>
      </div>
      {check ? (
        <>
          <div class="card summary">
            <p>
              <strong>{check.agent.name}</strong> <Status active={check.agent.active} />
            </p>
            <p>
              Identity provider: {check.idp ? check.idp.name : 'none'} {check.idp ? <Status active={check.idp.active} /> : null} · Token sign-in {check.credentials.jwt ? 'usable' : 'not usable'} · Active API keys: {check.credentials.activeApiKeys}
            </p>
            <p>
              Permissions: <span class="mono">{check.permissions.join(', ') || 'none'}</span>
            </p>
          </div>
          <div class="table-wrap">
            <table aria-label="Tool access">
              <thead>
                <tr>
                  <th>Tool</th>
                  <th>Permission</th>
                  <th>May call</th>
                  <th>Why not</th>
                  <th class="simulate-cell">
                    <span class="visually-hidden">Simulate</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {check.tools.map((tool) => (
                  <tr key={tool.name} data-tool={tool.name}>
                    <td class="mono">{tool.name}</td>
                    <td class="mono">{tool.permission ?? 'none needed'}</td>
                    <td>{tool.allowed ? <span class="badge badge-ok">yes</span> : <span class="badge badge-off">no</span>}</td>
                    <td class="reason">{why(tool)}</td>
                    <td class="simulate-cell">
                      <button type="button" aria-label={`Simulate a call of ${tool.name}`} onClick={() => setSimulated({ tool: tool.name })}>
                        Simulate
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Simulator key={check.agent.id} agentId={check.agent.id} pick={simulated} fallbackTools={check.tools.map((tool) => tool.name)} />
        </>
      ) : null}
    </section>
  );
}
