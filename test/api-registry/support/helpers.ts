import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

export interface CallResult {
  readonly isError?: boolean;
  readonly content: { type: string; text?: string }[];
  readonly structuredContent?: Record<string, unknown>;
}

export async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<CallResult> {
  return (await client.callTool({ name, arguments: args })) as CallResult;
}

export function textOf(result: CallResult): string {
  return result.content.map((c) => c.text ?? '').join('');
}

/** The structured content of a successful call; fails loudly on an error result. */
export function dataOf<T = Record<string, unknown>>(result: CallResult): T {
  if (result.isError) throw new Error(`unexpected tool error: ${textOf(result)}`);
  return result.structuredContent as T;
}
