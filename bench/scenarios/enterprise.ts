import { loadEnterprise } from './enterprise-availability.js';
import type { ScenarioModule } from './scenario.js';

/** Gatehouse Enterprise: an agent's API key and an agent's IdP JWT, with RBAC and audit. */
export const enterpriseScenarios: ScenarioModule = {
  names: ['ee-key', 'ee-jwt'],
  async unavailable() {
    const loaded = await loadEnterprise();
    return 'reason' in loaded ? loaded.reason : undefined;
  },
  async start() {
    throw new Error('the Enterprise scenarios are not wired yet');
  },
};
