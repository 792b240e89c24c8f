import { expect } from 'chai';
import { apiRegistry, communityEdition, InvalidApiDocumentError } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';
import { callTool, dataOf } from './support/helpers.js';

const handler = async (): Promise<Response> => Response.json({});

/** 20 levels; each level refers to the next one twice. Copying every reference means 2^20 copies. */
function fanOutDocument(levels = 20): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) {
    schemas[`L${i}`] = i === levels - 1
      ? { type: 'object', properties: { leaf: { type: 'string' } } }
      : { type: 'object', properties: { left: { $ref: `#/components/schemas/L${i + 1}` }, right: { $ref: `#/components/schemas/L${i + 1}` } } };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Fan-out', version: '1' },
    paths: {
      '/trees': {
        post: {
          operationId: 'plantTree',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/L0' } } } },
          responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: '#/components/schemas/L0' } } } } },
        },
      },
    },
    components: { schemas },
  };
}

describe('API registry: shared schemas are reused through $defs, not copied', () => {
  it('the 20-level fan-out document (each level used twice by the one above) loads in under a second, with a small schema', async () => {
    const document = fanOutDocument();
    expect(JSON.stringify(document).length).to.be.below(4_000);
    const started = performance.now();
    const registry = apiRegistry({ documents: [{ source: document }], dispatch: { handler } });
    expect(performance.now() - started).to.be.below(1_000);

    const t = await createTestEngine({ plugins: [communityEdition(), registry] });
    try {
      const described = dataOf<Record<string, any>>(await callTool(t.client, 'api.describe', { operationId: 'plantTree' }));
      const schema = described.arguments;
      expect(JSON.stringify(schema).length).to.be.below(10_000);
      // L0 is used once (inlined as the body); every deeper level is shared.
      expect(schema.properties.body.properties.left).to.deep.equal({ $ref: '#/$defs/L1' });
      expect(Object.keys(schema.$defs)).to.have.length(19);
      expect(schema.$defs.L18.properties.right).to.deep.equal({ $ref: '#/$defs/L19' });
      expect(schema.$defs.L19.properties.leaf).to.deep.equal({ type: 'string' });
      // The schema still validates: a wrong leaf deep down is refused before dispatch.
      let tree: Record<string, unknown> = { leaf: 42 };
      for (let i = 18; i >= 0; i--) tree = { left: tree };
      const refused = await callTool(t.client, 'api.call', { operationId: 'plantTree', body: tree });
      expect(refused.isError).to.equal(true);
      expect(JSON.stringify(refused.content)).to.include('leaf');
    } finally {
      await t.close();
    }
  });

  it('a malformed JSON pointer in a $ref is an InvalidApiDocumentError naming it, not a raw URIError', () => {
    const document = fanOutDocument(3);
    ((document.components as any).schemas.L0.properties.left as { $ref: string }).$ref = '#/components/schemas/%E0%A4%A';
    let error: unknown;
    try {
      apiRegistry({ documents: [{ source: document }], dispatch: { handler } });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(InvalidApiDocumentError);
    expect((error as InvalidApiDocumentError).pointer).to.equal('#/components/schemas/L0/properties/left/$ref');
    expect((error as Error).message).to.include('is not a valid JSON pointer');
  });
});
