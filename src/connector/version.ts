/** The connector's version; the packed package.json takes its version from here. */
export const CONNECTOR_VERSION = '0.1.0';

/** The published package (and bin) name. */
export const CONNECTOR_NAME = 'gatehouse-connector';
