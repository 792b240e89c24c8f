/** The connector's version; the packed package.json takes its version from here. */
export const CONNECTOR_VERSION = '0.1.0';

/** The published package name (one scope with the engine, `@gatehouse-mcp/engine`). */
export const CONNECTOR_NAME = '@gatehouse-mcp/connector';

/** The command the package installs (its only bin, so `npx -y @gatehouse-mcp/connector` runs it). */
export const CONNECTOR_BIN = 'gatehouse-connector';
