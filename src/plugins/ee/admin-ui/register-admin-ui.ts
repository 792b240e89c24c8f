import { RouteContribution, type PluginBinder } from '../../../core/index.js';
import { AdminSessionResolver } from '../admin/admin-guard.js';
import { AdminSessions } from './admin-sessions.js';
import { AdminUiRoutes } from './admin-ui-routes.js';

/** Bind the admin UI: its browser sessions (which the admin guard accepts) and its routes under `/admin`. */
export function registerAdminUi(binder: PluginBinder): void {
  binder.bind(AdminSessions).toSelf();
  binder.bind(AdminSessionResolver).toService(AdminSessions);
  binder.bind(RouteContribution).to(AdminUiRoutes);
}
