import { definePlugin, type PluginDefinition } from '@gatehouse-mcp/engine';
import { commentOnTicket, createClient, createTicket, getTicket, listClients, listTickets, updateTicket } from './tools.js';

/**
 * An example tool plugin: tenant-scoped tickets and clients. Copy this folder to start your own.
 *
 * ```ts
 * const engine = await createEngine({ plugins: [communityEdition(), ticketsPlugin()] });
 * ```
 */
export function ticketsPlugin(): PluginDefinition {
  return definePlugin({
    id: 'tickets',
    tools: [listTickets, getTicket, createTicket, updateTicket, commentOnTicket, listClients, createClient],
    migrations: new URL('./migrations/', import.meta.url),
  });
}

export { Ticket, ticketView } from './models.js';
