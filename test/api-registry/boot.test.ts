import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { communityEdition, apiRegistry, InvalidApiDocumentError } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';
import { generateOpenApi } from '../../scripts/generate-openapi.js';

const handler = async (): Promise<Response> => Response.json({});

function tinyDocument(): Record<string, any> {
  return {
    openapi: '3.0.3',
    info: { title: 'Tiny', version: '1' },
    paths: {
      '/things/{thingId}': {
        get: { operationId: 'getThing', parameters: [{ name: 'thingId', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'OK' } } },
      },
    },
  };
}

function bootError(make: () => unknown): InvalidApiDocumentError {
  try {
    make();
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidApiDocumentError);
    return error as InvalidApiDocumentError;
  }
  throw new Error('expected the registry to refuse the document');
}

describe('API registry: invalid documents fail at boot with the location of the problem', () => {
  it('names an undeclared path parameter', () => {
    const document = tinyDocument();
    document.paths['/things/{thingId}'].get.parameters = [];
    const error = bootError(() => apiRegistry({ documents: [{ source: document }], dispatch: { handler } }));
    expect(error.message).to.equal('Invalid API document "Tiny" at #/paths/~1things~1{thingId}/get: path parameter "{thingId}" of "/things/{thingId}" is not declared');
  });

  it('names a dangling $ref and an invalid schema deep in the generated document, at the schema the author must fix', () => {
    const dangling = generateOpenApi() as Record<string, any>;
    delete dangling.components.schemas.Money;
    const error = bootError(() => apiRegistry({ documents: [{ source: dangling }], dispatch: { handler } }));
    expect(error.pointer).to.match(/\/\$ref$/);
    expect(error.message).to.include('$ref "#/components/schemas/Money" points at nothing');

    const invalid = generateOpenApi() as Record<string, any>;
    invalid.components.schemas.Address.properties.city.type = 'text';
    const schemaError = bootError(() => apiRegistry({ documents: [{ source: invalid }], dispatch: { handler } }));
    // Address is shared: it is checked once, where it is defined, not at each place that uses it.
    expect(schemaError.message).to.match(/at #\/components\/schemas\/Address\/properties\/city\/type: invalid schema/);
  });

  it('refuses a version that is not OpenAPI 3, a missing file, and overrides of unknown operations', () => {
    expect(bootError(() => apiRegistry({ documents: [{ source: { swagger: '2.0', info: {}, paths: {} } }], dispatch: { handler } })).message).to.equal(
      'Invalid API document #1 at #/openapi: "openapi" must be a 3.0.x or 3.1.x version string (got undefined)',
    );
    expect(bootError(() => apiRegistry({ documents: [{ source: 'no-such-openapi.yaml' }], dispatch: { handler } })).message).to.equal(
      'Invalid API document no-such-openapi.yaml at #: the document cannot be read: ENOENT',
    );
    const overrides = bootError(() => apiRegistry({ documents: [{ source: tinyDocument(), overrides: { operations: { getThings: { requiresApproval: true } } } }], dispatch: { handler } }));
    expect(overrides.message).to.equal('Invalid API document overrides of "Tiny" at #/operations/getThings: no operation "getThings" in "Tiny"');
    const badOverride = bootError(() =>
      apiRegistry({ documents: [{ source: tinyDocument(), overrides: { operations: { getThing: { requiresApproval: 'yes' } } } as never }], dispatch: { handler } }),
    );
    expect(badOverride.pointer).to.equal('#/operations/getThing/requiresApproval');
  });

  it('refuses an operation id used by two documents', () => {
    const other = tinyDocument();
    other.info.title = 'Other';
    const error = bootError(() => apiRegistry({ documents: [{ source: tinyDocument() }, { source: other }], dispatch: { handler } }));
    expect(error.message).to.include('operation id "getThing" is already used by GET /things/{thingId} of "Tiny"');
  });

  it('reports YAML that cannot be parsed, by file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
    try {
      const file = join(dir, 'broken.yaml');
      writeFileSync(file, 'openapi: 3.0.3\ninfo: [unclosed\n');
      const error = bootError(() => apiRegistry({ documents: [{ source: file }], dispatch: { handler } }));
      expect(error.document).to.equal(file);
      expect(error.message).to.include('cannot be parsed as JSON or YAML');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails engine boot for a remote document that is invalid', async () => {
    const document = tinyDocument();
    document.paths['/things/{thingId}'].get.parameters[0].in = 'body';
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`;
    try {
      let failure: unknown;
      await createTestEngine({ plugins: [communityEdition(), apiRegistry({ documents: [{ source: url }], dispatch: { handler } })] }).then(
        (t) => t.close(),
        (error: unknown) => (failure = error),
      );
      expect(failure).to.be.instanceOf(InvalidApiDocumentError);
      expect((failure as Error).message).to.equal(
        `Invalid API document ${url} at #/paths/~1things~1{thingId}/get/parameters/0/in: parameter "thingId" has "in": "body"; expected one of path, query, header, cookie`,
      );
    } finally {
      server.close();
    }
  });
});
