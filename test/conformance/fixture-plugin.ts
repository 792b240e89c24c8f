/**
 * The fixtures the official MCP conformance suite expects a server to expose: tools, resources
 * and prompts with fixed names and answers. Test-only; never shipped.
 */
import { definePlugin, definePrompt, defineResource, defineTool, toolResult, ToolError, z } from '@gatehouse-mcp/engine';

/** A 1×1 PNG. */
export const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

/** A short silent 8 kHz mono 16-bit WAV file. */
function silentWav(samples = 800): string {
  const data = samples * 2;
  const wav = Buffer.alloc(44 + data);
  wav.write('RIFF', 0);
  wav.writeUInt32LE(36 + data, 4);
  wav.write('WAVEfmt ', 8);
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(1, 22);
  wav.writeUInt32LE(8000, 24);
  wav.writeUInt32LE(16000, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36);
  wav.writeUInt32LE(data, 40);
  return wav.toString('base64');
}

const pause = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const noArgs = z.object({});

const address = z.object({ street: z.string(), city: z.string() }).strict().meta({ id: 'address' });

const tools = [
  defineTool({
    name: 'json_schema_2020_12_tool',
    description: 'Takes a name and an address; its input schema uses $defs and forbids other properties.',
    input: z.object({ name: z.string(), address }).strict(),
    handler: ({ name, address: where }) => `${name} lives in ${where.city}.`,
  }),
  defineTool({
    name: 'test_reconnection',
    description: 'Closes its response stream mid-call; the client reconnects with Last-Event-ID and receives the result.',
    input: noArgs,
    async handler(_args, ctx) {
      ctx.closeStream();
      await pause(300, ctx.signal);
      return 'Reconnected and received the result.';
    },
  }),
  defineTool({
    name: 'test_simple_text',
    description: 'Returns a simple text response.',
    input: noArgs,
    handler: () => 'This is a simple text response for testing.',
  }),
  defineTool({
    name: 'test_image_content',
    description: 'Returns an image.',
    input: noArgs,
    handler: () => toolResult({ content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }] }),
  }),
  defineTool({
    name: 'test_audio_content',
    description: 'Returns an audio clip.',
    input: noArgs,
    handler: () => toolResult({ content: [{ type: 'audio', data: silentWav(), mimeType: 'audio/wav' }] }),
  }),
  defineTool({
    name: 'test_embedded_resource',
    description: 'Returns an embedded resource.',
    input: noArgs,
    handler: () =>
      toolResult({ content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] }),
  }),
  defineTool({
    name: 'test_multiple_content_types',
    description: 'Returns text, an image and an embedded resource.',
    input: noArgs,
    handler: () =>
      toolResult({
        content: [
          { type: 'text', text: 'Multiple content types test:' },
          { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
          { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } },
        ],
      }),
  }),
  defineTool({
    name: 'test_tool_with_logging',
    description: 'Sends three log messages while it runs.',
    input: noArgs,
    async handler(_args, ctx) {
      await ctx.log('info', 'Tool execution started');
      await pause(50, ctx.signal);
      await ctx.log('info', 'Tool processing data');
      await pause(50, ctx.signal);
      await ctx.log('info', 'Tool execution completed');
      return 'Logging test completed.';
    },
  }),
  defineTool({
    name: 'test_error_handling',
    description: 'Always fails.',
    input: noArgs,
    handler: () => {
      throw new ToolError('This tool intentionally returns an error for testing');
    },
  }),
  defineTool({
    name: 'test_tool_with_progress',
    description: 'Reports progress 0, 50 and 100 of 100.',
    input: noArgs,
    async handler(_args, ctx) {
      await ctx.progress(0, 100);
      await pause(50, ctx.signal);
      await ctx.progress(50, 100);
      await pause(50, ctx.signal);
      await ctx.progress(100, 100);
      return 'Progress test completed.';
    },
  }),
  defineTool({
    name: 'test_sampling',
    description: 'Asks the client to sample a completion for the prompt.',
    input: z.object({ prompt: z.string() }),
    async handler({ prompt }, ctx) {
      const result = await ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 });
      const content = result.content as { type?: string; text?: string } | undefined;
      return `LLM response: ${content?.type === 'text' ? content.text : JSON.stringify(content)}`;
    },
  }),
  defineTool({
    name: 'test_elicitation',
    description: 'Asks the user for a username and an email address.',
    input: z.object({ message: z.string() }),
    async handler({ message }, ctx) {
      const result = await ctx.requestClient('elicitation/create', {
        message,
        requestedSchema: {
          type: 'object',
          properties: { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } },
          required: ['username', 'email'],
        },
      });
      return `User response: action=${String(result.action)}, content=${JSON.stringify(result.content ?? {})}`;
    },
  }),
  defineTool({
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicits values whose schema carries defaults of every primitive type.',
    input: noArgs,
    async handler(_args, ctx) {
      const result = await ctx.requestClient('elicitation/create', {
        message: 'Please review your details.',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
        },
      });
      return `Elicitation completed: action=${String(result.action)}, content=${JSON.stringify(result.content ?? {})}`;
    },
  }),
  defineTool({
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicits values through every enum schema variant.',
    input: noArgs,
    async handler(_args, ctx) {
      const result = await ctx.requestClient('elicitation/create', {
        message: 'Please choose.',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            titledSingle: {
              type: 'string',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            legacyEnum: { type: 'string', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
            untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
            titledMulti: {
              type: 'array',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        },
      });
      return `Elicitation completed: action=${String(result.action)}, content=${JSON.stringify(result.content ?? {})}`;
    },
  }),
];

const resources = [
  defineResource({
    name: 'static-text',
    uri: 'test://static-text',
    description: 'A static text resource.',
    mimeType: 'text/plain',
    handler: () => 'This is the content of the static text resource.',
  }),
  defineResource({
    name: 'static-binary',
    uri: 'test://static-binary',
    description: 'A static binary resource (a PNG image).',
    mimeType: 'image/png',
    handler: () => Buffer.from(PNG_BASE64, 'base64'),
  }),
  defineResource({
    name: 'watched-resource',
    uri: 'test://watched-resource',
    description: 'A resource clients may subscribe to.',
    mimeType: 'text/plain',
    handler: () => 'Watched resource content.',
  }),
  defineResource({
    name: 'template-data',
    uriTemplate: 'test://template/{id}/data',
    description: 'Data for one id.',
    mimeType: 'application/json',
    handler: ({ id }) => JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
  }),
];

const prompts = [
  definePrompt({
    name: 'test_simple_prompt',
    description: 'A simple prompt without arguments.',
    handler: () => 'This is a simple prompt for testing.',
  }),
  definePrompt({
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments.',
    arguments: z.object({ arg1: z.string().describe('First test argument'), arg2: z.string().describe('Second test argument') }),
    complete: { arg1: (value) => ['paris', 'park', 'party', 'test', 'testing'].filter((word) => word.startsWith(value)) },
    handler: ({ arg1, arg2 }) => `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`,
  }),
  definePrompt({
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds a resource.',
    arguments: z.object({ resourceUri: z.string().describe('URI of the resource to embed') }),
    handler: ({ resourceUri }) => [
      { role: 'user', content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
      { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
    ],
  }),
  definePrompt({
    name: 'test_prompt_with_image',
    description: 'A prompt with an image.',
    handler: () => [
      { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
      { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
    ],
  }),
];

export const conformanceFixtures = () => definePlugin({ id: 'conformance-fixtures', tools, resources, prompts });
