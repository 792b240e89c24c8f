import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { createEngine } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';

const sdk = new NodeSDK({ serviceName: 'gatehouse', traceExporter: new OTLPTraceExporter() });
sdk.start();
const engine = await createEngine({ plugins: [communityEdition()] });
await engine.listen({ port: Number(process.env.PORT ?? 8080) });
process.on('SIGTERM', () => void engine.close().then(() => sdk.shutdown()));
