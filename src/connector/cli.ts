#!/usr/bin/env node
import { catchStopSignals } from './signals.js';

// First, before the rest of the connector loads: a signal that arrives while it starts is then
// answered in order (exit 128 + its number) rather than ending the process unannounced.
const signals = catchStopSignals();
void import('./main.js').then(({ runConnector }) => runConnector(process.argv.slice(2), signals));
