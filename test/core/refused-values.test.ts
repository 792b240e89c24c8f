/**
 * A tool handler that passed its caller's arguments to the database, which refused them (a NUL
 * character in text, a value longer than its column, a duplicate, a reference to nothing, a search
 * pattern ending in a backslash), answered "failed with an internal error" and was audited as a
 * failure of the engine: the caller could not tell that the arguments were wrong, nor which rule
 * they broke. It is now answered as the tool's error, in words of the engine's own (never the
 * statement or the database's text), and audited as such.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { AuditSink, Authenticator, Policy, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { AllowAllPolicy } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, StaticTokenAuthenticator, createTestEngine, testPrincipal, type TestEngine } from '@gatehouse-mcp/engine/testing';

describe('a handler whose statement the database refuses for its values', function () {
  this.timeout(60_000);
  const table = `refused_notes_${randomBytes(4).toString('hex')}`;
  const audit = new RecordingAuditSink();
  let t: TestEngine;

  before(async () => {
    const edition = definePlugin({
      id: 'recording',
      register({ bind }) {
        bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'notes-token': testPrincipal({ tenant: 'default', id: 'notes-token', label: 'notes' }) }));
        bind(Policy).to(AllowAllPolicy);
        bind(AuditSink).toConstantValue(audit);
      },
    });
    const add = defineTool({
      name: 'notes.add',
      description: 'Adds a note.',
      permission: 'notes:write',
      input: z.object({ id: z.string(), body: z.string(), parent: z.string().optional() }),
      handler: async ({ id, body, parent }, ctx) => {
        await ctx.db.insert(table, { id, body, parent: parent ?? null });
        return 'added';
      },
    });
    const find = defineTool({
      name: 'notes.find',
      description: 'Finds notes whose body starts with a prefix.',
      permission: 'notes:read',
      input: z.object({ pattern: z.string() }),
      handler: async ({ pattern }, ctx) => ({ found: (await ctx.db.table(table).where('body', 'like', pattern)).length }),
    });
    t = await createTestEngine({ plugins: [edition, definePlugin({ id: 'notes', tools: [add, find] })], connect: false });
    await t.engine.database.knex.schema.createTable(table, (notes) => {
      notes.text('tenant').notNullable();
      notes.text('id').primary();
      notes.string('body', 20).notNullable();
      notes.text('parent').references('id').inTable(table);
    });
  });
  after(async () => {
    await t?.engine.database.knex.schema.dropTableIfExists(table);
    await t?.close();
  });

  const cases: [string, Record<string, unknown>, string, string][] = [
    ['a NUL character in text', { id: 'n1', body: 'a\u0000b' }, '22021', 'a text value holds a character the database cannot store (a NUL character, or bytes that are not UTF-8)'],
    ['a value longer than its column', { id: 'n2', body: 'x'.repeat(21) }, '22001', 'a text value is longer than its column allows'],
    ['a reference to a record that does not exist', { id: 'n3', body: 'child', parent: 'missing' }, '23503', 'it refers to a record that does not exist, or removes one that others still refer to'],
    ['a duplicate of an existing record', { id: 'first', body: 'again' }, '23505', 'a record with the same unique value already exists'],
  ];

  it('answers each refusal as the tool’s error naming the rule the arguments broke, audited as the call’s error, with no statement or database text in it', async () => {
    const client = await t.connect({ token: 'notes-token' });
    expect((await client.callTool({ name: 'notes.add', arguments: { id: 'first', body: 'kept' } })).content).to.deep.equal([{ type: 'text', text: 'added' }]);
    for (const [what, args, code, description] of cases) {
      audit.events.length = 0;
      const result = await client.callTool({ name: 'notes.add', arguments: args });
      expect(result.isError, what).to.equal(true);
      const text = (result.content as { text: string }[])[0]!.text;
      expect(text, what).to.match(new RegExp(`^notes\\.add was refused by the database: ${description.replace(/[()]/g, '\\$&')} \\(SQLSTATE ${code}; request [0-9a-f-]{36}\\)\\.$`));
      expect(text, what).not.to.match(/insert|refused_notes|UTF8|violates|constraint/i);
      expect(audit.events.map((event) => [event.target, event.outcome, event.reason]), what).to.deep.equal([['notes.add', 'error', `the database refused a value (SQLSTATE ${code}): ${description}`]]);
    }
    // Nothing was written by the refused calls, and the engine goes on serving.
    expect((await t.engine.database.knex(table).orderBy('id')).map((row: { id: string }) => row.id)).to.deep.equal(['first']);
    expect((await client.callTool({ name: 'notes.add', arguments: { id: 'second', body: 'fine', parent: 'first' } })).content).to.deep.equal([{ type: 'text', text: 'added' }]);
  });

  it('a search pattern ending in a backslash is the caller’s error, not an internal one', async () => {
    const client = await t.connect({ token: 'notes-token' });
    await client.callTool({ name: 'notes.add', arguments: { id: 'searched', body: 'fine print' } });
    const result = await client.callTool({ name: 'notes.find', arguments: { pattern: 'fi\\' } });
    expect(result.isError).to.equal(true);
    expect((result.content as { text: string }[])[0]!.text).to.match(/^notes\.find was refused by the database: a search pattern has an invalid escape sequence \(for example a trailing backslash\) \(SQLSTATE 22025; request [0-9a-f-]{36}\)\.$/);
  });
});
